// Package cli holds LiverSeg's command-line subcommands (info, convert,
// segment, eval, bench, phantom, ...). Each subcommand lives in its own file
// and registers itself in init, so the commands grow without touching a
// central table.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/liverseg/liverseg/internal/gctune"
)

// Command is one subcommand of the liverseg binary.
type Command struct {
	Name  string // first argument that selects it
	Usage string // one line: arguments and what it does
	// Run executes the command. It returns nil on success, a *UsageError or
	// an error wrapping the reason for bad input (exit status 2), or any
	// other error (also exit status 2, with the reason on one line).
	Run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// WindowGC: the command runs under the window's garbage-collector
	// setting, not the command line's (gctune): bench measures the app.
	WindowGC bool
}

var commands = map[string]Command{}

// Register adds a subcommand; it panics on a duplicate name (a programming
// error caught at start-up).
func Register(c Command) {
	if _, dup := commands[c.Name]; dup {
		panic("cli: duplicate command " + c.Name)
	}
	commands[c.Name] = c
}

// Lookup reports whether name is a registered subcommand.
func Lookup(name string) (Command, bool) {
	c, ok := commands[name]
	return c, ok
}

// UsageError marks an error caused by wrong arguments.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Run executes the subcommand named by args[0] and returns the process exit
// status (ExitOK, ExitFailed, or 128+N after signal N: see signals.go), with
// a one-line reason on stderr. Ctrl-C, SIGTERM and SIGHUP cancel the
// context; a second one exits at once.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		Usage(stderr)
		return 2
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "liverseg: unknown command %q\n", args[0])
		Usage(stderr)
		return 2
	}
	if c.WindowGC {
		gctune.ForWindow()
	} else {
		gctune.ForLargeVolumes()
	}
	ctx, sw := watchSignals(context.Background(), stderr, os.Exit)
	defer sw.stop()
	err := c.Run(ctx, args[1:], stdout, stderr)
	if s := sw.caught(); s != nil && err != nil {
		fmt.Fprintf(stderr, "liverseg %s: interrupted by %s: stopped, nothing written\n", c.Name, signalName(s))
		return exitStatus(s)
	}
	if err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "liverseg %s: %v\n%s", c.Name, err, usageLines("usage: ", c.Name, c.Usage))
			return 2
		}
		fmt.Fprintf(stderr, "liverseg %s: %v\n", c.Name, err)
		return 2
	}
	return 0
}

// Usage prints the list of subcommands.
func Usage(w io.Writer) {
	fmt.Fprint(w, usageLines("usage: ", "", "[PATH]   open the viewer (a DICOM folder or file, or a NIfTI file)"))
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprint(w, usageLines("       ", n, commands[n].Usage))
	}
}
