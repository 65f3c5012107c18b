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
	"os/signal"
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
// status: 0 on success, 2 on bad input or failure, with a one-line reason on
// stderr. Ctrl-C cancels the context.
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
	gctune.ForLargeVolumes()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := c.Run(ctx, args[1:], stdout, stderr); err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "liverseg %s: %v\nusage: liverseg %s %s\n", c.Name, err, c.Name, c.Usage)
			return 2
		}
		fmt.Fprintf(stderr, "liverseg %s: %v\n", c.Name, err)
		return 2
	}
	return 0
}

// Usage prints the list of subcommands.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "usage: liverseg [PATH]            open the viewer (a DICOM folder or file, or a NIfTI file)")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "       liverseg %s %s\n", n, commands[n].Usage)
	}
}
