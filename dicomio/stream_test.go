package dicomio

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestReadSlices: the slices come in order and equal the volume written,
// for series shorter and longer than the read-ahead (buffers are reused).
func TestReadSlices(t *testing.T) {
	for _, n := range []int{3, streamAhead + 5, 3*streamAhead + 1} {
		s, want := progressiveSeries(t, n)
		r, err := ReadSlices(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		plane := want.Size[0] * want.Size[1]
		for k := 0; k < n; k++ {
			got, err := r.Slice(k)
			if err != nil {
				t.Fatalf("%d slices: slice %d: %v", n, k, err)
			}
			if !slices.Equal(got, want.Voxels[k*plane:(k+1)*plane]) {
				t.Fatalf("%d slices: slice %d differs from the one written", n, k)
			}
		}
		lo, hi := r.Range()
		if wl, wh := want.Range(); lo != wl || hi != wh {
			t.Errorf("%d slices: range %d…%d, the volume's is %d…%d", n, lo, hi, wl, wh)
		}
		if _, err := r.Slice(n); err == nil {
			t.Errorf("%d slices: slice %d (past the end) gave no error", n, n)
		}
		r.Close()
	}
}

// TestReadSlicesErrors: a slice asked for out of order, a file that
// changed since the scan and a cancelled context each end the reading with
// an error instead of wrong pixels or a hang.
func TestReadSlicesErrors(t *testing.T) {
	s, _ := progressiveSeries(t, 40)
	r, err := ReadSlices(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Slice(1); err == nil {
		t.Error("slice 1 before slice 0 gave no error")
	}
	r.Close()

	// Truncate a file beyond the read-ahead: the reader reports it when
	// its slice comes.
	if err := os.Truncate(s.Files[30], 100); err != nil {
		t.Fatal(err)
	}
	r, err = ReadSlices(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var got error
	for k := 0; k < 40 && got == nil; k++ {
		_, got = r.Slice(k)
	}
	r.Close()
	if got == nil || !strings.Contains(got.Error(), s.Files[30]) {
		t.Errorf("truncated file: error %v, want one naming %s", got, s.Files[30])
	}

	ctx, cancel := context.WithCancel(context.Background())
	r, err = ReadSlices(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Slice(0); err != nil {
		t.Fatal(err)
	}
	cancel()
	for k := 1; k < 40; k++ {
		if _, err = r.Slice(k); err != nil {
			break
		}
	}
	r.Close()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v, want context.Canceled", err)
	}
}
