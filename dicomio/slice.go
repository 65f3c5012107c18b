package dicomio

import (
	"fmt"
)

// ReadSlice decodes slice k of s (Files order) alone, without a volume:
// Rows×Cols values in HU (rescale applied), row-major, as the volume of a
// regular stack holds them. A series picker reads one slice per series
// this way to show a thumbnail before the user chooses.
func (s *Series) ReadSlice(k int) ([]int16, error) {
	if s == nil || len(s.files) == 0 {
		return nil, fmt.Errorf("dicomio: read slice: empty series")
	}
	if k < 0 || k >= len(s.files) {
		return nil, fmt.Errorf("dicomio: series %s: slice %d of %d", s.Key, k, len(s.files))
	}
	fi := s.files[k]
	dst := make([]int16, fi.Cols*fi.Rows)
	if err := readSliceBounded(fi, dst, &loadCache{}); err != nil {
		return nil, err
	}
	return dst, nil
}
