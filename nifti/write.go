package nifti

import (
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"strings"

	"github.com/liverseg/liverseg/internal/atomicfile"
	"github.com/liverseg/liverseg/volume"
)

// WriteOptions adjusts WriteVolume and WriteMask.
type WriteOptions struct {
	// NoOverwrite makes the write fail with an error satisfying
	// errors.Is(err, fs.ErrExist) when the destination already exists,
	// instead of replacing it. The check and the final rename are one
	// atomic step where the file system supports hard links.
	NoOverwrite bool
	// Context, when not nil, cancels the write (Ctrl-C, an export's
	// Cancel): the write stops, leaves nothing behind and returns its
	// error.
	Context context.Context
}

// WriteVolume saves v as a NIfTI-1 int16 image (scl_slope 1, scl_inter 0),
// gzip-compressed when path ends in .gz. The header carries both an sform
// and a qform (code 1, scanner) built from v's geometry, voxel sizes in
// pixdim, millimetre units and the description "LiverSeg".
//
// The file appears atomically: data goes to a temporary file in the same
// folder, which is synced and renamed over path only when complete, so a
// failed or interrupted write never leaves a partial file behind.
func WriteVolume(path string, v *volume.Volume, opts ...WriteOptions) error {
	if v == nil {
		return fmt.Errorf("nifti: writing %s: no volume", path)
	}
	if len(v.Voxels) != v.NumVoxels() {
		return fmt.Errorf("nifti: writing %s: volume has %d voxels but its %v grid needs %d", path, len(v.Voxels), v.Size, v.NumVoxels())
	}
	return write(path, v.Geometry, dtInt16, opt(opts), func(w io.Writer) error {
		buf := make([]byte, 1<<16)
		for i := 0; i < len(v.Voxels); {
			n := min(len(buf)/2, len(v.Voxels)-i)
			for j := 0; j < n; j++ {
				binary.LittleEndian.PutUint16(buf[2*j:], uint16(v.Voxels[i+j]))
			}
			if _, err := w.Write(buf[:2*n]); err != nil {
				return err
			}
			i += n
		}
		return nil
	})
}

// WriteMask saves m as a NIfTI-1 uint8 label image, with the same header
// conventions and atomic replacement as WriteVolume.
func WriteMask(path string, m *volume.Mask, opts ...WriteOptions) error {
	if m == nil {
		return fmt.Errorf("nifti: writing %s: no mask", path)
	}
	if len(m.Voxels) != m.NumVoxels() {
		return fmt.Errorf("nifti: writing %s: mask has %d voxels but its %v grid needs %d", path, len(m.Voxels), m.Size, m.NumVoxels())
	}
	return write(path, m.Geometry, dtUint8, opt(opts), func(w io.Writer) error {
		_, err := w.Write(m.Voxels)
		return err
	})
}

func opt(opts []WriteOptions) WriteOptions {
	if len(opts) > 0 {
		return opts[0]
	}
	return WriteOptions{}
}

// newHeader fills a header for g with both transforms set.
func newHeader(g volume.Geometry, dt int16) (*header, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	for a := 0; a < 3; a++ {
		if g.Size[a] > math.MaxInt16 {
			return nil, fmt.Errorf("size %v does not fit NIfTI-1 (at most %d voxels per axis)", g.Size, math.MaxInt16)
		}
	}
	h := &header{SizeofHdr: headerSize, Datatype: dt, VoxOffset: minVoxOffset, SclSlope: 1, XYZTUnits: unitsMM}
	h.Dim = [8]int16{3, int16(g.Size[0]), int16(g.Size[1]), int16(g.Size[2]), 1, 1, 1, 1}
	switch dt {
	case dtInt16:
		h.Bitpix = 16
	case dtUint8:
		h.Bitpix = 8
	}
	ras := g.AffineRAS()
	q := matToQuatern(ras)
	h.Pixdim = [8]float32{float32(q.qfac), float32(g.Spacing[0]), float32(g.Spacing[1]), float32(g.Spacing[2]), 1, 1, 1, 1}
	h.QformCode, h.SformCode = xformScanner, xformScanner
	h.QuaternB, h.QuaternC, h.QuaternD = float32Quaternion(q.b, q.c, q.d)
	h.QoffsetX, h.QoffsetY, h.QoffsetZ = float32(q.qx), float32(q.qy), float32(q.qz)
	for c := 0; c < 4; c++ {
		h.SrowX[c] = float32(ras[0][c])
		h.SrowY[c] = float32(ras[1][c])
		h.SrowZ[c] = float32(ras[2][c])
	}
	copy(h.Descrip[:], "LiverSeg")
	h.Magic = [4]byte{'n', '+', '1', 0}
	return h, nil
}

// float32Quaternion rounds (b, c, d) to the header's float32. The file does
// not store a = √(1 − b² − c² − d²), and for rotations of (nearly) 180°,
// such as a coronal grid, a is so small that float32 rounding of b, c, d
// alone decides it: readers then disagree (nifti1_io snaps a < 1e-7 to 0,
// nibabel takes the square root of whatever is left, 3e-4 in a real case).
// Where a is below float32 resolution anyway, the largest component is
// nudged by ulps until b² + c² + d² ≥ 1 (by at most a few ulps, well inside
// nibabel's tolerance), so that every reader finds a = 0.
func float32Quaternion(b, c, d float64) (float32, float32, float32) {
	q := [3]float32{float32(b), float32(c), float32(d)}
	sum := func() float64 {
		return float64(q[0])*float64(q[0]) + float64(q[1])*float64(q[1]) + float64(q[2])*float64(q[2])
	}
	if 1-(b*b+c*c+d*d) >= 1e-7 {
		return q[0], q[1], q[2]
	}
	big := 0
	for i := range q {
		if math.Abs(float64(q[i])) > math.Abs(float64(q[big])) {
			big = i
		}
	}
	away := float32(math.Inf(1))
	if q[big] < 0 {
		away = float32(math.Inf(-1))
	}
	for n := 0; sum() < 1 && n < 16; n++ {
		q[big] = math.Nextafter32(q[big], away)
	}
	return q[0], q[1], q[2]
}

// write produces the file atomically (internal/atomicfile: temp file in the
// destination folder, fsync, rename, or hard link when NoOverwrite; nothing
// left behind on failure).
func write(path string, g volume.Geometry, dt int16, o WriteOptions, body func(io.Writer) error) error {
	h, err := newHeader(g, dt)
	if err != nil {
		return fmt.Errorf("nifti: writing %s: %w", path, err)
	}
	if !IsNIfTI(path) {
		return fmt.Errorf("nifti: writing %s: the name must end in .nii or .nii.gz", path)
	}
	err = atomicfile.Write(path, atomicfile.Options{NoOverwrite: o.NoOverwrite, Context: o.Context}, func(w io.Writer) error {
		var gz *gzip.Writer
		if strings.HasSuffix(strings.ToLower(path), ".gz") {
			// BestSpeed: CT compresses almost as well at level 1 as at 6 (for
			// the CHAOS CT, gzip -1 gives 16.9 MiB in 1.3 s, gzip -6 16.5 MiB
			// in 3.3 s; most of the gain is the air around the patient), which
			// matters for a 512×512×500 export on a laptop.
			gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
			w = gz
		}
		if _, err := w.Write(h.encode()); err != nil {
			return err
		}
		if err := body(w); err != nil {
			return err
		}
		if gz != nil {
			return gz.Close()
		}
		return nil
	})
	if errors.Is(err, fs.ErrExist) {
		return &fs.PathError{Op: "nifti: write", Path: path, Err: fs.ErrExist}
	}
	if err != nil {
		return fmt.Errorf("nifti: writing %s: %w", path, err)
	}
	return nil
}
