package sliceview

import (
	"testing"

	"fyne.io/fyne/v2"

	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/volume"
)

// fullMask is an overlay covering the whole volume of sc.
func fullMask(t *testing.T, sc *viewer.Scene) viewer.Overlay {
	t.Helper()
	m := volume.NewMask(sc.Slicer().Volume().Geometry)
	for n := range m.Voxels {
		m.Voxels[n] = 1
	}
	o, err := viewer.NewMaskOverlay(sc.Slicer(), m, viewer.Style{Color: colorRed, Fill: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOwnOverlays(t *testing.T) {
	r := newRig(t)
	ax, co := r.views[0], r.views[1]
	ax.SetOverlays(fullMask(t, r.scene))
	if ax.Overlay() == nil || co.Overlay() != nil {
		t.Fatalf("own overlay: axial layer %v, coronal layer %v (want only axial)", ax.Overlay() != nil, co.Overlay() != nil)
	}
	// The scene's overlays do not replace the view's own, and the view
	// does not redraw its layer for them.
	before := ax.Overlay()
	r.scene.SetOverlays()
	if ax.Overlay() != before || ax.Overlay() == nil {
		t.Error("a scene overlay change touched a view with its own overlays")
	}
	if co.Overlay() != nil {
		t.Error("coronal view shows an overlay")
	}
	// Its slice still follows the scene.
	r.scene.Step(viewer.Axial, 2)
	if ax.Overlay() == nil {
		t.Error("own overlay lost on a slice change")
	}
	ax.UseSceneOverlays()
	if ax.Overlay() != nil {
		t.Error("back on the scene's (empty) overlays, the layer is still shown")
	}
}

func TestPausedViewRendersOnResume(t *testing.T) {
	r := newRig(t)
	ax := r.views[0]
	ax.SetPaused(true)
	before := append([]byte(nil), ax.Image().Pix...)
	slice := ax.lastSlice
	r.scene.Step(viewer.Axial, 3)
	r.scene.SetWindow(viewer.WindowLevel{Width: 100, Level: 0})
	if ax.lastSlice != slice || string(ax.Image().Pix) != string(before) {
		t.Fatal("a paused view rendered")
	}
	ax.SetPaused(false)
	if ax.lastSlice != slice+3 {
		t.Errorf("resumed view shows slice %d, want %d", ax.lastSlice, slice+3)
	}
	if string(ax.Image().Pix) == string(before) {
		t.Error("resumed view did not re-render")
	}
}

func TestViewStateAndCallback(t *testing.T) {
	r := newRig(t)
	ax := r.views[0]
	calls := 0
	ax.OnViewChanged = func(*SliceView) { calls++ }
	ax.ZoomBy(2, ax.centre())
	if calls != 1 {
		t.Fatalf("zoom: %d callbacks, want 1", calls)
	}
	z, p := ax.ViewState()
	if z != 2 {
		t.Errorf("zoom %v, want 2", z)
	}
	ax.SetViewState(3, p.Add(fyne.NewPos(10, -5)))
	if calls != 1 {
		t.Error("SetViewState called OnViewChanged")
	}
	if z, p2 := ax.ViewState(); z != 3 || p2 != p.Add(fyne.NewPos(10, -5)) {
		t.Errorf("state %v %v after SetViewState", z, p2)
	}
	ax.ResetView()
	if calls != 2 {
		t.Errorf("reset: %d callbacks, want 2", calls)
	}
	ax.SetLabelShown(false)
	if ax.r.label.Visible() {
		t.Error("slice label shown after SetLabelShown(false)")
	}
	ax.SetLabelShown(true)
	if !ax.r.label.Visible() {
		t.Error("slice label hidden after SetLabelShown(true)")
	}
	ax.SetTitle("teacher", colorRed)
	if ax.r.title.Text != "teacher" || ax.Title() != "teacher" {
		t.Errorf("title %q", ax.r.title.Text)
	}
}
