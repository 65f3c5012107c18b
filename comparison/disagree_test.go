package comparison

import (
	"context"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/masktest"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/volume"
)

func TestDisagree(t *testing.T) {
	g := volume.Identity([3]int{16, 14, 13}, [3]float64{0.8, 0.8, 2.5})
	// A is the cube [4,12)³. B is A with one more slice on top (k = 12:
	// 8×8 = 64 voxels only in B) and one x line taken out (j = 5, k = 7:
	// 8 voxels only in A).
	a := masktest.Box(g, [3]int{4, 4, 4}, [3]int{12, 12, 12})
	b := masktest.Box(g, [3]int{4, 4, 4}, [3]int{12, 12, 13})
	for i := 4; i < 12; i++ {
		b.Voxels[g.Offset(i, 5, 7)] = 0
	}
	d, err := Disagree(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if d.OnlyA != 8 || d.OnlyB != 64 {
		t.Errorf("only A %d, only B %d; want 8, 64", d.OnlyA, d.OnlyB)
	}
	// Per axis: along k the new slice (64) beats the line (8); along j row
	// 5 has the line plus its share of the slice (8 + 8); along i every
	// column in [4,12) has 8 + 1, a tie won by the lowest index.
	if d.Most != [3]int{4, 5, 12} {
		t.Errorf("most disagreement at %v, want [4 5 12]", d.Most)
	}
	if d.PerSlice[2][12] != 64 || d.PerSlice[2][7] != 8 || d.PerSlice[1][5] != 16 || d.PerSlice[1][6] != 8 || d.PerSlice[0][4] != 9 || d.PerSlice[0][3] != 0 {
		t.Errorf("per-slice counts %v", d.PerSlice)
	}
	if got := d.Labels.Voxels[g.Offset(6, 5, 7)]; got != OnlyA {
		t.Errorf("label on the removed line %d, want OnlyA", got)
	}
	if got := d.Labels.Voxels[g.Offset(6, 6, 12)]; got != OnlyB {
		t.Errorf("label on the added slice %d, want OnlyB", got)
	}
	n := 0
	for _, v := range d.Labels.Voxels {
		if v != Agree {
			n++
		}
	}
	if n != 72 || !d.Labels.SameGridWithin(g, 0) {
		t.Errorf("%d labelled voxels, want 72", n)
	}

	// Swapping the masks swaps the labels.
	r, _ := Disagree(b, a)
	if r.OnlyA != 64 || r.OnlyB != 8 || r.Most != d.Most {
		t.Errorf("swapped: %d %d %v", r.OnlyA, r.OnlyB, r.Most)
	}

	// Identical and empty masks agree everywhere.
	for _, m := range []*volume.Mask{a, volume.NewMask(g)} {
		s, err := Disagree(m, m)
		if err != nil || s.OnlyA != 0 || s.OnlyB != 0 || s.Most != [3]int{-1, -1, -1} {
			t.Errorf("self-disagreement %+v, %v", s, err)
		}
	}
	// Labels other than 1 count as liver.
	c := masktest.Box(g, [3]int{4, 4, 4}, [3]int{12, 12, 12})
	for i := range c.Voxels {
		c.Voxels[i] *= 7
	}
	if s, _ := Disagree(a, c); s.OnlyA+s.OnlyB != 0 {
		t.Errorf("label 7 vs 1 disagree at %d voxels", s.OnlyA+s.OnlyB)
	}
	// Different grids are an error.
	other := volume.NewMask(volume.Identity([3]int{16, 14, 13}, [3]float64{0.8, 0.8, 2.0}))
	if _, err := Disagree(a, other); err == nil {
		t.Error("masks on different grids compared")
	}
	if _, err := Disagree(a, nil); err == nil {
		t.Error("nil mask compared")
	}
}

// TestDisagreeRealModels: the student against the teacher on the real
// study, checked voxel by voxel.
func TestDisagreeRealModels(t *testing.T) {
	set, _, _ := fullSet(t)
	s, _ := set.Entry("student")
	te, _ := set.Entry("teacher")
	d, err := Disagree(s.Mask, te.Mask)
	if err != nil {
		t.Fatal(err)
	}
	var onlyA, onlyB int
	perK := make([]int, s.Mask.Size[2])
	nxy := s.Mask.Size[0] * s.Mask.Size[1]
	for o := range s.Mask.Voxels {
		x, y := s.Mask.Voxels[o] != 0, te.Mask.Voxels[o] != 0
		switch {
		case x && !y:
			onlyA++
			perK[o/nxy]++
		case y && !x:
			onlyB++
			perK[o/nxy]++
		}
	}
	if d.OnlyA != onlyA || d.OnlyB != onlyB {
		t.Errorf("counts %d/%d, direct %d/%d", d.OnlyA, d.OnlyB, onlyA, onlyB)
	}
	best := 0
	for k, c := range perK {
		if c > perK[best] {
			best = k
		}
	}
	if d.Most[2] != best {
		t.Errorf("most disagreeing slice %d, direct %d", d.Most[2], best)
	}
	t.Logf("student vs teacher: %d voxels only the student's, %d only the teacher's; most on axial slice %d (%d voxels)", onlyA, onlyB, best, perK[best])
}

func BenchmarkDisagree512x512x150(b *testing.B) {
	g := volume.Identity([3]int{512, 512, 150}, [3]float64{0.75, 0.75, 1.5})
	x := masktest.Box(g, [3]int{100, 120, 20}, [3]int{380, 400, 130})
	y := masktest.Box(g, [3]int{104, 118, 24}, [3]int{384, 396, 128})
	for b.Loop() {
		if _, err := Disagree(x, y); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSetDisagreeCached: the Set's Disagree is the function's answer,
// cached for the last pair, dropped when a mask is replaced, and knows the
// reference by ReferenceName.
func TestSetDisagreeCached(t *testing.T) {
	set, st, reg := fullSet(t)
	if got := ModelOrder(reg); len(got) < 4 || got[0] != "teacher" || got[1] != "assistant" || got[2] != "student100k" || got[3] != "student" {
		t.Errorf("ModelOrder %v", got)
	}
	s := NewSet(st.ct)
	for _, e := range set.Entries() {
		s.Put(e)
	}
	d1, err := s.Disagree("student", "teacher")
	if err != nil {
		t.Fatal(err)
	}
	st1, _ := s.Entry("student")
	te, _ := s.Entry("teacher")
	want, _ := Disagree(st1.Mask, te.Mask)
	if d1.OnlyA != want.OnlyA || d1.OnlyB != want.OnlyB || d1.Most != want.Most {
		t.Errorf("Set.Disagree %d/%d %v, Disagree %d/%d %v", d1.OnlyA, d1.OnlyB, d1.Most, want.OnlyA, want.OnlyB, want.Most)
	}
	if d2, _ := s.Disagree("student", "teacher"); d2 != d1 {
		t.Error("same pair computed again")
	}
	if d3, _ := s.Disagree("teacher", "student"); d3 == d1 || d3.OnlyA != d1.OnlyB {
		t.Error("the swapped pair is not its own answer")
	}
	if _, err := s.Disagree("student", ReferenceName); err == nil {
		t.Error("disagreement with a reference that is not loaded")
	}
	s.SetReference(st.ref)
	dr, err := s.Disagree("student", ReferenceName)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := Disagree(st1.Mask, st.ref); dr.OnlyA != want.OnlyA || dr.OnlyB != want.OnlyB {
		t.Errorf("against the reference: %d/%d, want %d/%d", dr.OnlyA, dr.OnlyB, want.OnlyA, want.OnlyB)
	}
	rep, err := s.Compare(context.Background(), "student", ReferenceName)
	if want, _ := metrics.Compare(st1.Mask, st.ref); err != nil || rep != want {
		t.Errorf("Compare with the reference: %+v %v, want %+v", rep, err, want)
	}
	// Replacing the reference drops the cached map.
	s.SetReference(volume.NewMask(st.ct.Geometry))
	if de, _ := s.Disagree("student", ReferenceName); de == dr || de.OnlyB != 0 || de.OnlyA != st1.Mask.Count() {
		t.Errorf("after a new (empty) reference: %+v", de)
	}
	if _, err := s.Disagree("nosuch", "teacher"); err == nil {
		t.Error("unknown model accepted")
	}
}
