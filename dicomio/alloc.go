package dicomio

import (
	"strings"
	"unsafe"
)

// uninitialisedInt16s returns n int16s whose memory Go has not cleared:
// the caller writes every one before anything reads it.
//
// Why: make([]int16, n) for a volume clears it first when the runtime
// reuses memory (always, in a window that has shown a study before), on the
// calling goroutine, before the first slice can be read. For a 1000-slice
// series that is 500 MB, and where the memory has been returned to the
// system it is also one page fault per 4 KiB: measured 2–4 s before the
// first image on this project's 2-core machine. Uncleared, the pages are
// faulted in by the readers as the slices land, spread over both cores
// and over the load (and as huge pages: adviseHuge), and the first image
// waits only for its own slice.
//
// strings.Builder.Grow is the standard library's public way to a
// non-cleared allocation (it uses the runtime's allocation without
// clearing for exactly this reason); the one byte written makes the
// string's data pointer the allocation's. The memory is an ordinary
// pointer-free Go heap object, kept alive by the returned slice.
func uninitialisedInt16s(n int) []int16 {
	if n <= 0 {
		return nil
	}
	var b strings.Builder
	b.Grow(2 * n)
	b.WriteByte(0)
	s := b.String()
	return unsafe.Slice((*int16)(unsafe.Pointer(unsafe.StringData(s))), n)
}
