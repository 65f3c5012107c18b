// Package segedit is the editable segmentation behind LiverSeg's edit mode:
// a binary mask started from any result (a model's mask, a compared model's,
// the reference) that a reader corrects with a brush, island removal,
// scissors, fill-between-slices and smoothing, with undo/redo and live
// figures (volume, Dice against the source and the reference).
//
// Grid. An Editor works on the canonical (LPS-ordered) grid of the CT, the
// grid the three views display (volume.Geometry.CanonicalGeometry): canonical
// index (i, j, k) runs towards patient L, P and S. Mask returns the result on
// the CT's own grid and voxel order, so exports and metrics see the same
// geometry as the CT. All distances (brush radius, cut width, smoothing) are
// in millimetres; the brush measures them with the grid's full
// index→patient matrix, so anisotropic spacing and tilted or oblique grids
// are respected.
//
// Values. The editable mask holds 0 and 1 only (a source label map is
// binarised: non-zero = liver). That makes every change a flip, so a history
// step needs only the list of flipped voxels — kept as sorted runs of voxel
// offsets — to be undone and redone bit for bit; memory is bounded by the
// number of changed voxels, never by the volume (see History).
//
// The source mask, the reference and the CT are only read.
//
// An Editor is not safe for concurrent use: the GUI calls it from its event
// goroutine, and a background job (autosave) works on a copy (Snapshot).
package segedit

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/liverseg/liverseg/volume"
)

// Defaults of the history's bounds.
const (
	DefaultMaxSteps = 100
	// DefaultMaxHistoryBytes bounds the run lists kept for undo/redo
	// (64 MiB holds about eight million runs: hundreds of whole-liver
	// smoothing steps).
	DefaultMaxHistoryBytes = 64 << 20
)

// Options configure New. Zero values take the defaults.
type Options struct {
	// Name of the edited segmentation, e.g. "student, edited".
	Name string
	// Reference mask (any voxel order, on the CT's grid) for the live Dice;
	// nil when there is none.
	Reference *volume.Mask
	// MaxSteps and MaxHistoryBytes bound undo; the oldest steps are
	// dropped first.
	MaxSteps        int
	MaxHistoryBytes int
}

// Editor is one editable segmentation.
type Editor struct {
	name   string
	source string // what it was started from ("student", "reference", "" for an empty mask)
	orig   volume.Geometry
	geom   volume.Geometry // canonical
	gram   [3][3]float64   // Mᵀ·M for M = Direction·diag(Spacing): squared mm of an index step
	ginv   [3][3]float64

	mask *volume.Mask // canonical, 0/1
	ct   []int16      // canonical CT voxels
	src  []uint8      // canonical source mask (read only), nil when started empty
	ref  []uint8      // canonical reference (read only), nil without one

	count, srcCount, refCount int
	interSrc, interRef        int

	hist      []*step
	pos       int // hist[:pos] are applied
	histBytes int
	maxSteps  int
	maxBytes  int
	dropped   int // steps dropped from the front because of the bounds
	saved     int // stateID last marked saved (0: the start state)
	ids       int // last step id given out

	// axialEdits counts, per axial slice (canonical k), the brush strokes
	// made in 2D on the axial plane: the key slices fill-between uses.
	axialEdits map[int]int

	stroke *Stroke // the stroke in progress
}

// step is one entry of the history: the voxels it flipped as sorted runs
// [start, start+len) of canonical offsets.
type step struct {
	name   string
	runs   []run
	voxels int
	id     int // unique id, for dirty tracking
	axial  []int
}

type run struct{ start, n int32 }

func (s *step) bytes() int { return len(s.runs)*8 + len(s.name) + 64 }

// New starts an editable segmentation on ct's grid from src (any voxel order
// on ct's grid; nil starts from an empty mask, drawn by hand). sourceName
// names src ("student", "reference"). Neither src nor ct is modified.
func New(ct *volume.Volume, src *volume.Mask, sourceName string, o Options) (*Editor, error) {
	if ct == nil {
		return nil, errors.New("segedit: no CT volume")
	}
	if err := ct.Geometry.Validate(); err != nil {
		return nil, fmt.Errorf("segedit: CT: %w", err)
	}
	if len(ct.Voxels) != ct.NumVoxels() {
		return nil, fmt.Errorf("segedit: CT has %d voxels, its grid %v needs %d", len(ct.Voxels), ct.Size, ct.NumVoxels())
	}
	if ct.NumVoxels() >= math.MaxInt32 {
		return nil, fmt.Errorf("segedit: CT grid %v is too large to edit (%d voxels)", ct.Size, ct.NumVoxels())
	}
	e := &Editor{
		name: o.Name, source: sourceName, orig: ct.Geometry,
		maxSteps: o.MaxSteps, maxBytes: o.MaxHistoryBytes,
		axialEdits: map[int]int{}, saved: 0,
	}
	if e.maxSteps <= 0 {
		e.maxSteps = DefaultMaxSteps
	}
	if e.maxBytes <= 0 {
		e.maxBytes = DefaultMaxHistoryBytes
	}
	if e.name == "" {
		e.name = "edited"
		if sourceName != "" {
			e.name = sourceName + ", edited"
		}
	}
	c := ct.Canonical()
	e.geom, e.ct = c.Geometry, c.Voxels
	m := c.IndexToPatientMatrix()
	for a := 0; a < 3; a++ {
		for b := 0; b < 3; b++ {
			for r := 0; r < 3; r++ {
				e.gram[a][b] += m[r][a] * m[r][b]
			}
		}
	}
	inv, ok := volume.Invert3(e.gram)
	if !ok {
		return nil, fmt.Errorf("segedit: CT grid %v has a degenerate direction matrix", ct.Size)
	}
	e.ginv = inv
	e.mask = volume.NewMask(e.geom)
	var err error
	if src != nil {
		if e.src, err = e.onGrid(src, "source mask"); err != nil {
			return nil, err
		}
		for o, v := range e.src {
			if v != 0 {
				e.mask.Voxels[o] = 1
				e.count++
			}
		}
		e.srcCount, e.interSrc = e.count, e.count
	}
	if o.Reference != nil {
		if e.ref, err = e.onGrid(o.Reference, "reference"); err != nil {
			return nil, err
		}
		for o, v := range e.ref {
			if v != 0 {
				e.refCount++
				if e.mask.Voxels[o] != 0 {
					e.interRef++
				}
			}
		}
	}
	return e, nil
}

// onGrid returns m's voxels in canonical order after checking that it lies
// on the CT's grid.
func (e *Editor) onGrid(m *volume.Mask, what string) ([]uint8, error) {
	if len(m.Voxels) != m.NumVoxels() {
		return nil, fmt.Errorf("segedit: %s has %d voxels, its grid %v needs %d", what, len(m.Voxels), m.Size, m.NumVoxels())
	}
	cm := m.Canonical()
	if !cm.SameGrid(e.geom) {
		return nil, fmt.Errorf("segedit: %s grid (size %v, spacing %v) is not the CT's (size %v, spacing %v)", what, m.Size, m.Spacing, e.orig.Size, e.orig.Spacing)
	}
	return cm.Voxels, nil
}

// Name is the edited segmentation's name, e.g. "student, edited".
func (e *Editor) Name() string { return e.name }

// SetName renames it.
func (e *Editor) SetName(n string) { e.name = n }

// Source names what the edit started from ("" for an empty mask).
func (e *Editor) Source() string { return e.source }

// Geometry is the canonical grid the editor works on.
func (e *Editor) Geometry() volume.Geometry { return e.geom }

// CanonicalMask is the live mask on the canonical grid. It changes with
// every edit; callers only read it (an overlay shows it).
func (e *Editor) CanonicalMask() *volume.Mask { return e.mask }

// Mask is a copy of the current mask on the CT's own grid and voxel order.
func (e *Editor) Mask() *volume.Mask {
	m, err := volume.MaskFromCanonical(e.mask, e.orig)
	if err != nil {
		// Cannot happen: the mask was built on this canonical grid.
		panic(err)
	}
	return m
}

// Stats are the live figures of the edited mask.
type Stats struct {
	Voxels     int
	VolumeML   float64
	DiceSource float64 // against the mask it started from; NaN when started empty
	DiceRef    float64 // against the reference; NaN without one
}

// Stats are kept up to date by every edit in time proportional to the
// voxels it changed (no pass over the volume).
func (e *Editor) Stats() Stats {
	s := Stats{Voxels: e.count, VolumeML: float64(e.count) * e.geom.VoxelVolume() / 1000, DiceSource: math.NaN(), DiceRef: math.NaN()}
	if e.src != nil {
		s.DiceSource = dice(e.count, e.srcCount, e.interSrc)
	}
	if e.ref != nil {
		s.DiceRef = dice(e.count, e.refCount, e.interRef)
	}
	return s
}

func dice(a, b, ab int) float64 {
	if a+b == 0 {
		return 1
	}
	return 2 * float64(ab) / float64(a+b)
}

// flip inverts voxel o and keeps the figures in step.
func (e *Editor) flip(o int) {
	v := e.mask.Voxels[o] ^ 1
	e.mask.Voxels[o] = v
	d := -1
	if v != 0 {
		d = 1
	}
	e.count += d
	if e.src != nil && e.src[o] != 0 {
		e.interSrc += d
	}
	if e.ref != nil && e.ref[o] != 0 {
		e.interRef += d
	}
}

// tx collects the voxels one operation flips.
type tx struct {
	e       *Editor
	changed []int32
}

// set gives voxel o the value v (0 or 1), recording the flip.
func (t *tx) set(o int, v uint8) {
	if t.e.mask.Voxels[o] != v {
		t.e.flip(o)
		t.changed = append(t.changed, int32(o))
	}
}

// Change describes what one operation did.
type Change struct {
	Name   string
	Voxels int  // voxels flipped
	Bounds Box  // canonical bounding box of the flipped voxels (empty when none)
	Step   bool // a history step was recorded (false when nothing changed)
}

// Box is a canonical index box [Min, Max).
type Box struct{ Min, Max [3]int }

// Empty reports whether the box holds no voxel.
func (b Box) Empty() bool {
	return b.Max[0] <= b.Min[0] || b.Max[1] <= b.Min[1] || b.Max[2] <= b.Min[2]
}

// commit turns the flips into a history step.
func (e *Editor) commit(name string, t *tx, axial []int) Change {
	c := Change{Name: name, Voxels: len(t.changed)}
	if len(t.changed) == 0 {
		return c
	}
	slices.Sort(t.changed)
	s := &step{name: name, voxels: len(t.changed), axial: axial}
	s.runs = toRuns(t.changed)
	c.Bounds = e.bounds(s.runs)
	c.Step = true
	e.push(s)
	for _, k := range axial {
		e.axialEdits[k]++
	}
	return c
}

// toRuns compresses sorted offsets into runs.
func toRuns(offs []int32) []run {
	var runs []run
	for i := 0; i < len(offs); {
		j := i + 1
		for j < len(offs) && offs[j] == offs[j-1]+1 {
			j++
		}
		runs = append(runs, run{offs[i], int32(j - i)})
		i = j
	}
	return slices.Clip(runs)
}

func (e *Editor) bounds(runs []run) Box {
	if len(runs) == 0 {
		return Box{}
	}
	n := e.geom.Size
	b := Box{Min: n}
	add := func(o int) {
		i, j, k := o%n[0], o/n[0]%n[1], o/(n[0]*n[1])
		p := [3]int{i, j, k}
		for a := 0; a < 3; a++ {
			b.Min[a] = min(b.Min[a], p[a])
			b.Max[a] = max(b.Max[a], p[a]+1)
		}
	}
	for _, r := range runs {
		add(int(r.start))
		add(int(r.start + r.n - 1))
		if r.n > 1 && int(r.start)/n[0] != int(r.start+r.n-1)/n[0] {
			// A run that wraps rows spans the whole row range.
			b.Min[0], b.Max[0] = 0, n[0]
		}
	}
	return b
}

// push records s after the current position, dropping the redo branch and
// the oldest steps beyond the bounds.
func (e *Editor) push(s *step) {
	for _, r := range e.hist[e.pos:] {
		e.histBytes -= r.bytes()
	}
	e.hist = e.hist[:e.pos]
	e.ids++
	s.id = e.ids
	e.hist = append(e.hist, s)
	e.histBytes += s.bytes()
	e.pos = len(e.hist)
	for len(e.hist) > 1 && (len(e.hist) > e.maxSteps || e.histBytes > e.maxBytes) {
		e.histBytes -= e.hist[0].bytes()
		e.hist[0] = nil
		e.hist = e.hist[1:]
		e.pos--
		e.dropped++
	}
}

func (e *Editor) apply(s *step, sign int) {
	for _, r := range s.runs {
		for o := r.start; o < r.start+r.n; o++ {
			e.flip(int(o))
		}
	}
	for _, k := range s.axial {
		e.axialEdits[k] += sign
		if e.axialEdits[k] <= 0 {
			delete(e.axialEdits, k)
		}
	}
}

// CanUndo and CanRedo report whether Undo and Redo have a step to take.
func (e *Editor) CanUndo() bool { return e.pos > 0 && e.stroke == nil }
func (e *Editor) CanRedo() bool { return e.pos < len(e.hist) && e.stroke == nil }

// Undo reverts the last applied step; it returns what changed (Step false
// when there was nothing to undo).
func (e *Editor) Undo() Change {
	if !e.CanUndo() {
		return Change{}
	}
	e.pos--
	s := e.hist[e.pos]
	e.apply(s, -1)
	return Change{Name: s.name, Voxels: s.voxels, Bounds: e.bounds(s.runs), Step: true}
}

// Redo re-applies the step Undo reverted last.
func (e *Editor) Redo() Change {
	if !e.CanRedo() {
		return Change{}
	}
	s := e.hist[e.pos]
	e.pos++
	e.apply(s, 1)
	return Change{Name: s.name, Voxels: s.voxels, Bounds: e.bounds(s.runs), Step: true}
}

// StepInfo describes one history step.
type StepInfo struct {
	Name    string
	Voxels  int  // voxels flipped
	Bytes   int  // memory kept for it
	Applied bool // false for steps that were undone (redo can bring them back)
}

// History lists the steps kept, oldest first, and the memory they use.
// Dropped is how many older steps fell off the front because of the
// bounds (they can no longer be undone).
func (e *Editor) History() (steps []StepInfo, bytes, dropped int) {
	for n, s := range e.hist {
		steps = append(steps, StepInfo{Name: s.name, Voxels: s.voxels, Bytes: s.bytes(), Applied: n < e.pos})
	}
	return steps, e.histBytes, e.dropped
}

// Position is the number of applied steps in History.
func (e *Editor) Position() int { return e.pos }

// stateID identifies the current state: the id of the last applied step.
func (e *Editor) stateID() int {
	if e.pos == 0 {
		if e.dropped > 0 {
			return -1 // the start state can no longer be reached
		}
		return 0
	}
	return e.hist[e.pos-1].id
}

// Dirty reports whether the mask differs (by its history) from what was
// last marked saved (MarkSaved), or from the start when never saved.
func (e *Editor) Dirty() bool { return e.stroke != nil || e.stateID() != e.saved }

// MarkSaved records the current state as saved (exported or autosaved
// does not count: only what the user kept).
func (e *Editor) MarkSaved() { e.saved = e.stateID() }

// AxialKeySlices are the axial slices (canonical k) edited with the 2D brush
// on the axial view, in order: the default key slices of FillBetween.
func (e *Editor) AxialKeySlices() []int {
	ks := make([]int, 0, len(e.axialEdits))
	for k := range e.axialEdits {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Replace sets the whole mask to m (on the CT's grid, any voxel order) as
// one step named name: a recovered autosave, or a mask loaded from a file.
func (e *Editor) Replace(m *volume.Mask, name string) (Change, error) {
	vox, err := e.onGrid(m, "mask")
	if err != nil {
		return Change{}, err
	}
	t := &tx{e: e}
	for o, v := range vox {
		if v != 0 {
			t.set(o, 1)
		} else {
			t.set(o, 0)
		}
	}
	return e.commit(name, t, nil), nil
}
