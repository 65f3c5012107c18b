// Command thinct writes thin-slice test series (see package thinct) for the
// whole-process benchmarks in scripts/bench-thin.sh:
//
//	thinct DIR N...   → DIR/slicesN, one DICOM series per N
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/liverseg/liverseg/internal/testsupport/thinct"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: thinct DIR N...   (writes DIR/slicesN for every N)")
		os.Exit(2)
	}
	for _, a := range os.Args[2:] {
		n, err := strconv.Atoi(a)
		if err != nil || n < 2 {
			fmt.Fprintf(os.Stderr, "thinct: %q: want a slice count ≥ 2\n", a)
			os.Exit(2)
		}
		dir := filepath.Join(os.Args[1], fmt.Sprintf("slices%d", n))
		src, err := thinct.Write(dir, n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "thinct:", err)
			os.Exit(1)
		}
		fmt.Printf("%s: %s with %d slices\n", dir, src, n)
	}
}
