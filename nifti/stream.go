package nifti

import (
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"

	"github.com/liverseg/liverseg/volume"
)

// WriteVolumeSlices writes an int16 volume of geometry g slice by slice,
// with the header conventions and atomic replacement of WriteVolume:
// slice(k) returns the voxels of slice k (Size[0]×Size[1], x fastest) and
// may block until they exist, so that a converter writes the first slices
// while the last are still being read. An error from slice aborts the
// write and leaves nothing behind.
func WriteVolumeSlices(path string, g volume.Geometry, slice func(k int) ([]int16, error), opts ...WriteOptions) error {
	plane := g.Size[0] * g.Size[1]
	return write(path, g, dtInt16, opt(opts), func(w io.Writer) error {
		var buf []byte
		for k := 0; k < g.Size[2]; k++ {
			s, err := slice(k)
			if err != nil {
				return err
			}
			if len(s) != plane {
				return fmt.Errorf("slice %d has %d voxels, the %v grid needs %d", k, len(s), g.Size, plane)
			}
			if hostLittleEndian {
				// NIfTI is written little endian: the voxels' own bytes go
				// out as they are, without an encoding copy.
				if _, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 2*len(s))); err != nil {
					return err
				}
				continue
			}
			if cap(buf) < 2*plane {
				buf = make([]byte, 2*plane)
			}
			b := buf[:2*plane]
			for i, x := range s {
				binary.LittleEndian.PutUint16(b[2*i:], uint16(x))
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// hostLittleEndian reports whether int16s are stored little endian here.
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
