package viewer

import (
	"testing"

	"github.com/liverseg/liverseg/volume"
)

func TestLiverHU(t *testing.T) {
	g := volume.Identity([3]int{10, 10, 2}, [3]float64{1, 1, 1})
	v := volume.New(g)
	for i := range v.Voxels {
		v.Voxels[i] = int16(i) // 0..199
	}
	band := func(lo, hi int) *volume.Mask {
		m := volume.NewMask(g)
		for i := lo; i < hi; i++ {
			m.Voxels[i] = 1
		}
		return m
	}
	other := volume.NewMask(volume.Identity([3]int{10, 10, 3}, [3]float64{1, 1, 1}))
	tests := []struct {
		name           string
		m              *volume.Mask
		median, p5, p9 float64
		wantErr        bool
	}{
		// Nearest rank: of 100..199, the 50th value is 149, the 5th 104,
		// the 95th 194.
		{"hundred voxels", band(100, 200), 149, 104, 194, false},
		{"one voxel", band(7, 8), 7, 7, 7, false},
		{"empty", band(0, 0), 0, 0, 0, true},
		{"other grid", other, 0, 0, 0, true},
		{"no mask", nil, 0, 0, 0, true},
	}
	for _, tc := range tests {
		st, err := LiverHU(v, tc.m)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if err == nil && (st.Median != tc.median || st.P05 != tc.p5 || st.P95 != tc.p9) {
			t.Errorf("%s: %+v, want median %v, 5 %% %v, 95 %% %v", tc.name, st, tc.median, tc.p5, tc.p9)
		}
	}
	// Negative values count too (an unenhanced fatty liver).
	for i := range v.Voxels {
		v.Voxels[i] = int16(-i)
	}
	if st, err := LiverHU(v, band(0, 11)); err != nil || st.Median != -5 {
		t.Errorf("negative HU: %+v, %v; want median −5", st, err)
	}
}

func TestStudyLiverWindow(t *testing.T) {
	for _, tc := range []struct {
		median float64
		want   WindowLevel
	}{
		{142, WindowLevel{150, 142}},
		{60.4, WindowLevel{150, 60}},
		{-10.6, WindowLevel{150, -11}},
	} {
		if got := StudyLiverWindow(tc.median); got != tc.want {
			t.Errorf("median %v: %v, want %v", tc.median, got, tc.want)
		}
	}
	if UnenhancedLiver != (WindowLevel{150, 30}) {
		t.Errorf("unenhanced liver window %v, want W150/L30 (Radiopaedia)", UnenhancedLiver)
	}
}
