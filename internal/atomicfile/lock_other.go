//go:build !unix

package atomicfile

import "os"

func lock(f *os.File) {}

// abandoned: without flock a live writer cannot be told from a dead one,
// so only old leftovers are removed.
func abandoned(p string) bool { return oldEnough(p) }
