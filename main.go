// Command liverseg is a CT viewer that segments the liver on the local CPU
// with a small distilled 3D network. main only wires the packages together:
// a known subcommand runs on the command line, anything else opens the GUI.
package main

import (
	"fmt"
	"os"

	"github.com/liverseg/liverseg/app"
	"github.com/liverseg/liverseg/cli"
	"github.com/liverseg/liverseg/internal/buildinfo"
	// Must initialise before Fyne reads the locale; see its doc.
	_ "github.com/liverseg/liverseg/internal/localefix"
)

func main() {
	if len(os.Args) > 1 {
		if _, ok := cli.Lookup(os.Args[1]); ok {
			os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
		}
		if os.Args[1] == "--version" || os.Args[1] == "version" {
			fmt.Println(buildinfo.Software())
			return
		}
		if os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
			cli.Usage(os.Stdout)
			return
		}
	}
	os.Exit(app.Main(os.Args[1:]))
}
