package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/liverseg/liverseg/internal/atomicfile"
)

// Exit statuses of every subcommand (the rule is the same for all):
//
//   - 0: the command did everything it was asked;
//   - 2: it could not (bad arguments, input it cannot read or refuses, an
//     output it may not or cannot write, a failure on the way), with a
//     one-line reason on stderr. `info` counts a series it lists but
//     cannot load as not done;
//   - 128+N: stopped by signal N (130 Ctrl-C/SIGINT, 143 SIGTERM, 129
//     SIGHUP), with nothing written: a write in progress is abandoned and
//     its temporary file removed.
const (
	ExitOK     = 0
	ExitFailed = 2
)

// stopSignals are the signals that stop a command cleanly. SIGKILL cannot
// be caught: a write it interrupts leaves a temporary file that the next
// write of the same target removes (internal/atomicfile).
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// signalWatch cancels a context on the first stop signal and remembers
// which it was. A second signal does not wait for the command to unwind:
// it removes the temporary files of writes in progress and exits.
type signalWatch struct {
	mu   sync.Mutex
	sig  os.Signal
	ch   chan os.Signal
	done chan struct{}
}

func watchSignals(parent context.Context, stderr io.Writer, exit func(int)) (context.Context, *signalWatch) {
	ctx, cancel := context.WithCancel(parent)
	w := &signalWatch{ch: make(chan os.Signal, 2), done: make(chan struct{})}
	signal.Notify(w.ch, stopSignals...)
	go func() {
		defer cancel()
		select {
		case s := <-w.ch:
			w.mu.Lock()
			w.sig = s
			w.mu.Unlock()
			cancel()
		case <-w.done:
			return
		}
		select {
		case s := <-w.ch:
			atomicfile.RemovePending()
			fmt.Fprintf(stderr, "liverseg: %s again: stopped at once\n", signalName(s))
			exit(exitStatus(s))
		case <-w.done:
		}
	}()
	return ctx, w
}

// stop unregisters the handler (signals get their default action again).
func (w *signalWatch) stop() {
	signal.Stop(w.ch)
	close(w.done)
}

// caught is the first stop signal received, or nil.
func (w *signalWatch) caught() os.Signal {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sig
}

// exitStatus is the shell's convention for a process stopped by s.
func exitStatus(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 130
}

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT (Ctrl-C)"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}
