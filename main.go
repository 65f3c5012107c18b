// Command liverseg is a CT viewer that segments the liver on the local CPU
// with a small distilled 3D network. main only wires the packages together.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "liverseg: under construction")
	os.Exit(2)
}
