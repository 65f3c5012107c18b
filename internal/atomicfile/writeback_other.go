//go:build !linux || arm

package atomicfile

// startWriteback does nothing where sync_file_range is not available: the
// fsync before the rename writes everything.
func startWriteback(fd uintptr, off, n int64) {}
