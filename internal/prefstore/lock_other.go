//go:build !unix

package prefstore

// lockFile does nothing where flock is unavailable: saves still replace the
// file whole, only the merge of two instances' simultaneous saves is
// unguarded.
func lockFile(string) (func(), error) { return func() {}, nil }
