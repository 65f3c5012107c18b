package dicomio

import (
	"fmt"
	"time"
)

// SOPClassUID reads only the header of the DICOM file at path (bounded in
// time like Scan's reading of one file) and returns its SOP Class UID, so
// that a dropped or chosen file can be told apart (image, SEG, ...) before
// it is loaded.
func SOPClassUID(path string) (string, error) {
	fi, err := readHeaderBounded(path, 10*time.Second)
	if err != nil {
		return "", err
	}
	if fi == nil {
		return "", fmt.Errorf("dicomio: %s: no DICOM header", path)
	}
	return fi.SOPClassUID, nil
}
