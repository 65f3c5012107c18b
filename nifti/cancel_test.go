package nifti

import (
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

// cancelAfter is a context that reports itself cancelled from its n-th
// Err call on: a Ctrl-C that lands in the middle of a write, at a point
// the test chooses.
type cancelAfter struct {
	context.Context
	n, calls atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.calls.Add(1) >= c.n.Load() {
		return context.Canceled
	}
	return nil
}

// TestWriteCancelledMidway: a write whose context is cancelled while the
// data is being written stops with context.Canceled and leaves nothing in
// the folder, for both compressed and plain files.
func TestWriteCancelledMidway(t *testing.T) {
	g := volume.Geometry{Size: [3]int{128, 128, 128}, Spacing: [3]float64{1, 1, 1},
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	v := volume.New(g)
	r := rand.New(rand.NewSource(1))
	for i := range v.Voxels {
		v.Voxels[i] = int16(r.Intn(4000) - 1000) // incompressible enough for several MB
	}
	for _, name := range []string{"ct.nii.gz", "ct.nii"} {
		dir := t.TempDir()
		ctx := &cancelAfter{Context: context.Background()}
		ctx.n.Store(3) // the first checks pass: cancelled after a megabyte or two
		err := WriteVolume(filepath.Join(dir, name), v, WriteOptions{Context: ctx})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: err = %v, want context.Canceled", name, err)
		}
		if ctx.calls.Load() < 3 {
			t.Errorf("%s: cancelled before any data was written", name)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s: left behind %v", name, ents)
		}
	}
}
