package segedit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/liverseg/liverseg/internal/atomicfile"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// Autosave keeps the edited mask of each study in a folder of the user's
// cache (AutosaveDir), so that an edit survives a crash of the app: one
// NIfTI mask and one JSON record per study, both written atomically. The
// app removes a study's record when its edits are kept (exported) or
// discarded, and offers the records left at start-up for recovery.
type Autosave struct{ Dir string }

// AutosaveDir is os.UserCacheDir()/liverseg/edits.
func AutosaveDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("autosave: no cache folder: %w", err)
	}
	return filepath.Join(d, "liverseg", "edits"), nil
}

// Record describes one autosaved edit.
type Record struct {
	// Study is the path the study was opened from (a DICOM folder or file,
	// a NIfTI file); SeriesUID its series when known.
	Study     string    `json:"study"`
	SeriesUID string    `json:"series_uid,omitempty"`
	Name      string    `json:"name"`   // "student, edited"
	Source    string    `json:"source"` // what it started from
	Saved     time.Time `json:"saved"`
	Steps     int       `json:"steps"`
	VolumeML  float64   `json:"volume_ml"`
	// Mask is the file name of the mask, in the autosave folder.
	Mask string `json:"mask"`
}

// Key names a study's files in the folder.
func (r Record) Key() string {
	h := sha256.Sum256([]byte(r.Study + "\x00" + r.SeriesUID))
	return hex.EncodeToString(h[:8])
}

// Save writes m (on the CT's grid) and r, replacing the study's earlier
// autosave.
func (a Autosave) Save(r Record, m *volume.Mask) error {
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		return fmt.Errorf("autosave: %w", err)
	}
	key := r.Key()
	r.Mask = key + ".nii.gz"
	if err := nifti.WriteMask(filepath.Join(a.Dir, r.Mask), m); err != nil {
		return fmt.Errorf("autosave %s: %w", filepath.Join(a.Dir, r.Mask), err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(a.Dir, key+".json")
	if err := atomicfile.Write(path, atomicfile.Options{}, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("autosave %s: %w", path, err)
	}
	return nil
}

// List returns the autosaved edits, newest first. Unreadable records are
// skipped (and named in the error, which does not stop the listing).
func (a Autosave) List() ([]Record, error) {
	ents, err := os.ReadDir(a.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("autosave: %w", err)
	}
	var out []Record
	var bad []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(a.Dir, e.Name())
		b, err := os.ReadFile(p)
		var r Record
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err == nil && r.Mask == "" {
			err = errors.New("no mask file named")
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Saved.After(out[j].Saved) })
	if len(bad) > 0 {
		return out, fmt.Errorf("autosave: unreadable records: %s", strings.Join(bad, "; "))
	}
	return out, nil
}

// Load reads a record's mask.
func (a Autosave) Load(r Record) (*volume.Mask, error) {
	m, err := nifti.ReadMask(filepath.Join(a.Dir, filepath.Base(r.Mask)))
	if err != nil {
		return nil, fmt.Errorf("autosave: %w", err)
	}
	return m, nil
}

// Remove deletes a study's autosave (no error when there is none).
func (a Autosave) Remove(r Record) error {
	key := r.Key()
	var errs []error
	for _, n := range []string{key + ".json", key + ".nii.gz"} {
		if err := os.Remove(filepath.Join(a.Dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SetReference replaces the reference the live Dice is measured against
// (nil: none), e.g. one loaded after editing began.
func (e *Editor) SetReference(ref *volume.Mask) error {
	if ref == nil {
		e.ref, e.refCount, e.interRef = nil, 0, 0
		return nil
	}
	vox, err := e.onGrid(ref, "reference")
	if err != nil {
		return err
	}
	e.ref, e.refCount, e.interRef = vox, 0, 0
	for o, v := range vox {
		if v != 0 {
			e.refCount++
			if e.mask.Voxels[o] != 0 {
				e.interRef++
			}
		}
	}
	return nil
}

// Reference is the reference's voxels (canonical), nil without one; the
// app compares it with what it shows to notice a new reference.
func (e *Editor) Reference() []uint8 { return e.ref }
