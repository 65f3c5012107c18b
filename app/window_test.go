package app

import (
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/volume"
)

// windowOption is the window list's entry for a preference name (a
// viewer.Presets name or StudyLiverPreset), as the list shows it.
func windowOption(t testing.TB, u *UI, name string) string {
	t.Helper()
	c, ok := u.windowChoiceNamed(name)
	if !ok {
		t.Fatalf("no window choice %q in %q", name, u.presets.Options)
	}
	return c.label
}

// saturatedLiver is the share of the liver's pixels on the axial view's
// current slice that are drawn pure white (grey 255), from the image the
// view shows and the liver mask m (canonical grid).
func saturatedLiver(t *testing.T, u *UI, m *volume.Mask) float64 {
	t.Helper()
	ax := u.views[0]
	img := ax.Image()
	k := ax.Slice()
	n := m.Size
	liver, white := 0, 0
	for j := 0; j < n[1]; j++ {
		for i := 0; i < n[0]; i++ {
			if m.Voxels[(k*n[1]+j)*n[0]+i] == 0 {
				continue
			}
			// The axial image is drawn with the canonical rows top to bottom.
			px, py, _ := u.scene.Slicer().IndexToPlane(viewer.Axial, [3]int{i, j, k})
			o := img.PixOffset(int(px), int(py))
			liver++
			if img.Pix[o] == 255 {
				white++
			}
		}
	}
	if liver == 0 {
		t.Fatalf("no liver on axial slice %d", k)
	}
	return float64(white) / float64(liver)
}

// TestStudyLiverWindow checks issue 13 item 4: the liver window is centred
// on the study's own liver (median CT value inside the shown model's mask)
// and keeps the enhanced liver grey, where the fixed W150/L30 window turns
// it white; the list says which window it is and the status line where
// the values come from.
func TestStudyLiverWindow(t *testing.T) {
	u, _, postDone, real, study := openAbdomen(t)
	if !real {
		t.Skip("the shipped models are not in models/: the liver window needs a liver mask")
	}
	waitPost(t, postDone)
	res := u.seg.res
	if res == nil || res.Mask == nil {
		t.Fatal("no mask after the automatic run")
	}
	want, err := viewer.LiverHU(u.vol, res.Mask)
	if err != nil {
		t.Fatal(err)
	}
	// Portal-venous liver: 100–160 HU (chaos_ct01 and the phantom are
	// both enhanced).
	if want.Median < 95 || want.Median > 170 {
		t.Errorf("%s: median liver HU %.0f, want an enhanced liver (100–160)", study.Name, want.Median)
	}
	label := windowOption(t, u, StudyLiverPreset)
	wl := viewer.StudyLiverWindow(want.Median)
	if !strings.Contains(label, wl.String()) || !strings.Contains(label, "this study") {
		t.Errorf("the list offers %q, want the study's liver window %s", label, wl)
	}
	mask := res.Mask.Canonical()

	// The fixed unenhanced window: the enhanced liver is mostly white.
	u.presets.SetSelected(windowOption(t, u, "Liver, unenhanced"))
	before := saturatedLiver(t, u, mask)
	// The study's window: grey.
	u.presets.SetSelected(label)
	if got := u.scene.Window(); got != wl {
		t.Fatalf("window %v after choosing %q, want %v", got, label, wl)
	}
	after := saturatedLiver(t, u, mask)
	t.Logf("%s: liver median %.0f HU (5–95 %%: %.0f–%.0f); white liver pixels %.1f %% at W150/L30, %.1f %% at %s",
		study.Name, want.Median, want.P05, want.P95, 100*before, 100*after, wl)
	if before < 0.3 || after > 0.05 {
		t.Errorf("white liver pixels: %.1f %% at W150/L30 (want ≥ 30 %%), %.1f %% at %s (want ≤ 5 %%)", 100*before, 100*after, wl)
	}
	if u.presets.Selected != label || u.wlLabel.Text != wl.String() {
		t.Errorf("toolbar shows %q / %q, want %q / %q", u.presets.Selected, u.wlLabel.Text, label, wl)
	}
	if st := u.status.Text; !strings.Contains(st, "median") || !strings.Contains(st, res.Model) {
		t.Errorf("status %q does not say where the liver window comes from", st)
	}

	// Chosen before the segmentation is done, it is applied when it is.
	u.presets.SetSelected(windowOption(t, u, "Abdomen"))
	u.forgetLiverStats()
	u.presets.SetSelected(windowOption(t, u, StudyLiverPreset))
	if got := u.scene.Window(); got != viewer.DefaultWindow {
		t.Fatalf("window %v before the liver is measured, want it unchanged", got)
	}
	u.seg.SetThreshold(0.5) // rebuilds the mask, which measures the liver again
	waitPost(t, postDone)
	if got := u.scene.Window(); got != wl {
		t.Errorf("window %v once the liver was measured, want %v", got, wl)
	}
	// Another window ends the choice: a new measurement leaves it alone.
	u.presets.SetSelected(windowOption(t, u, "Bone"))
	u.seg.SetThreshold(0.5)
	waitPost(t, postDone)
	if got := u.scene.Window(); got != viewer.Presets[2].WL {
		t.Errorf("window %v after choosing bone and a new mask, want bone %v", got, viewer.Presets[2].WL)
	}
}

// TestLiverWindowPreference: the liver window remembered from an earlier
// run (also under the old preset name "Liver") is applied to the first
// study once its liver is measured.
func TestLiverWindowPreference(t *testing.T) {
	s := &UI{}
	if c, ok := s.windowChoiceNamed("Liver"); !ok || c.name != StudyLiverPreset {
		t.Fatalf("the old preference name \"Liver\" maps to %+v", c)
	}
	u := newUI(t)
	dir, real := testModels(t)
	if !real {
		t.Skip("the shipped models are not in models/: the liver window needs a liver mask")
	}
	u.prefs().SetString(prefPreset, StudyLiverPreset)
	postDone := make(chan struct{}, 8)
	u.seg.onPostDone = func() { postDone <- struct{}{} }
	t.Cleanup(func() { waitWorker(u) })
	if err := u.seg.UseModels(dir); err != nil {
		t.Fatal(err)
	}
	waitChecked(t, u)
	study := testct.Abdomen(t).DICOM
	if err := openAndWait(t, u, study); err != nil {
		t.Fatal(err)
	}
	waitPost(t, postDone)
	st, err := viewer.LiverHU(u.vol, u.seg.res.Mask)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.scene.Window(), viewer.StudyLiverWindow(st.Median); got != want {
		t.Errorf("first study at %v, want the remembered liver window measured on it, %v", got, want)
	}
}
