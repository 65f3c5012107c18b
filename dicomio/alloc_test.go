package dicomio

import (
	"runtime"
	"testing"
)

// TestUninitialisedInt16s: the slice has the length asked for, every
// element can be written and read back, and the memory stays the slice's
// own across collections (no other allocation lands in it).
func TestUninitialisedInt16s(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1 << 10, 3 << 20} {
		v := uninitialisedInt16s(n)
		if len(v) != n {
			t.Fatalf("n=%d: len %d", n, len(v))
		}
		for i := range v {
			v[i] = int16(i*7 - 1000)
		}
		runtime.GC()
		garbage := make([][]byte, 64)
		for i := range garbage {
			garbage[i] = make([]byte, 64<<10)
			for j := range garbage[i] {
				garbage[i][j] = 0xAA
			}
		}
		runtime.GC()
		for i, x := range v {
			if x != int16(i*7-1000) {
				t.Fatalf("n=%d: element %d is %d after collections, %d written", n, i, x, int16(i*7-1000))
			}
		}
		runtime.KeepAlive(garbage)
	}
}
