// Package cputime reports the CPU time a benchmark's loop used, per
// operation, beside Go's wall-clock ns/op. On a machine shared with other
// work the wall clock measures the queue for the CPU as much as the code;
// the process's own user+system time does not (it still counts every
// thread, so a loop spread over two cores shows twice its wall time when
// the machine is idle).
package cputime

import (
	"syscall"
	"testing"
	"time"
)

// Now is the process's user+system CPU time so far.
func Now() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Measure resets b's timer and returns a function that, called after the
// loop, reports "cpu-ms/op".
func Measure(b *testing.B) func() {
	b.ResetTimer()
	t0 := Now()
	return func() {
		b.StopTimer()
		b.ReportMetric(float64(Now()-t0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	}
}
