//go:build !linux

package dicomio

// adviseHuge is a no-op where transparent huge pages are not requested
// through madvise (see hugepages_linux.go).
func adviseHuge([]int16) {}
