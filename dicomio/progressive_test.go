package dicomio

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

// progressiveSeries writes an n-slice series whose voxels encode their
// slice and position, and scans it.
func progressiveSeries(t *testing.T, n int) (*Series, *volume.Volume) {
	t.Helper()
	v := volume.New(volume.Identity([3]int{12, 10, n}, [3]float64{0.8, 0.8, 0.5}))
	for i := range v.Voxels {
		v.Voxels[i] = int16(i%3000 - 1000)
	}
	dir := t.TempDir() + "/s"
	if err := WriteSeries(dir, v, SeriesOptions{UIDSeed: "progressive"}); err != nil {
		t.Fatal(err)
	}
	cat, err := Scan(context.Background(), []string{dir}, nil)
	if err != nil || len(cat.Series) != 1 {
		t.Fatalf("scan: %v, %d series", err, len(cat.Series))
	}
	return cat.Series[0], v
}

// TestStartLoad: slices are read in the order asked for, each is ready
// (and WaitSlice returns) once stored, and the volume equals Load's.
func TestStartLoad(t *testing.T) {
	s, want := progressiveSeries(t, 20)
	cases := []struct {
		name  string
		first []int
		head  []int // the order the first reads must follow
	}{
		{"natural order", nil, []int{0, 1, 2}},
		{"middle then a model's slices", []int{10, 0, 7, 14, 19}, []int{10, 0, 7, 14, 19}},
		{"repeated and out of range ignored", []int{5, 5, -1, 99, 3}, []int{5, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var order []int
			release := make(chan struct{})
			l, err := StartLoad(context.Background(), s, LoadOptions{
				First: c.first,
				BeforeRead: func(k int) {
					mu.Lock()
					order = append(order, k)
					mu.Unlock()
					if k != firstOr0(c.first) {
						<-release // hold the rest back until the first slice is checked
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := l.WaitSlice(firstOr0(c.first)); err != nil {
				t.Fatal(err)
			}
			if n, total := l.Count(); n != 1 || total != 20 || !l.Direct() {
				t.Errorf("after the first slice: %d/%d read, direct %v", n, total, l.Direct())
			}
			close(release)
			v, err := l.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(v.Voxels, want.Voxels) || v.Geometry.Size != want.Size {
				t.Error("the volume differs from the one written")
			}
			for k := 0; k < 20; k++ {
				if !l.Ready(k) {
					t.Errorf("slice %d not ready after Wait", k)
				}
			}
			// Workers take the entries in order but may report them a
			// little out of order: the first reads are the ones asked
			// for, as a set.
			mu.Lock()
			got := slices.Clone(order)
			mu.Unlock()
			head := c.head
			if len(got) != 20 || !sameSet(got[:len(head)], head) || got[0] != head[0] && got[1] != head[0] {
				t.Errorf("read order %v, want it to begin with %v", got, head)
			}
		})
	}
}

func firstOr0(f []int) int {
	if len(f) > 0 {
		return f[0]
	}
	return 0
}

func sameSet(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestStartLoadCancel: a cancelled load ends with context.Canceled,
// drops its volume, and WaitSlice of a slice never read reports it.
func TestStartLoadCancel(t *testing.T) {
	s, _ := progressiveSeries(t, 30)
	block := make(chan struct{})
	l, err := StartLoad(context.Background(), s, LoadOptions{BeforeRead: func(k int) {
		if k > 1 {
			<-block
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitSlice(0); err != nil {
		t.Fatal(err)
	}
	l.Cancel()
	close(block)
	if _, err := l.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after Cancel: %v", err)
	}
	if err := l.WaitSlice(29); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitSlice of an unread slice after Cancel: %v", err)
	}
	if l.Volume() != nil {
		t.Error("a cancelled load still holds its volume")
	}
}
