package atomicfile

import (
	"os"
	"time"
)

// staleAge is how old a temporary file must be to be removed where its
// writer cannot be asked (no file locks): no write takes a day.
const staleAge = 24 * time.Hour

func oldEnough(p string) bool {
	st, err := os.Stat(p)
	return err == nil && time.Since(st.ModTime()) > staleAge
}
