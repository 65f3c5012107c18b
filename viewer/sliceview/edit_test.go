package sliceview

import (
	"math"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

type editEvent struct {
	phase EditPhase
	idx   [3]float64
}

// TestEditGestures: in edit mode a click is Begin+End at the voxel, a drag
// is Begin at its start, Move along it and End at its last point (in
// continuous canonical indices on the view's slice), and the crosshair
// stays put; the brush circle has the radius in mm at the view's scale.
func TestEditGestures(t *testing.T) {
	r := newRig(t)
	cor := r.views[1]
	var got []editEvent
	cor.EditMode = true
	cor.OnEdit = func(v *SliceView, ph EditPhase, idx [3]float64) { got = append(got, editEvent{ph, idx}) }
	cursor := r.scene.Cursor()
	a, b := [3]int{10, cor.Slice(), 5}, [3]int{40, cor.Slice(), 12}
	pa, pb := cor.ScreenPosition(a), cor.ScreenPosition(b)

	cor.Tapped(&fyne.PointEvent{Position: pa})
	if len(got) != 2 || got[0].phase != EditBegin || got[1].phase != EditEnd || !near(got[0].idx, a) {
		t.Fatalf("click gave %+v, want Begin/End at %v", got, a)
	}
	got = nil
	mid := fyne.NewPos((pa.X+pb.X)/2, (pa.Y+pb.Y)/2)
	cor.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: mid}, Dragged: fyne.NewDelta(mid.X-pa.X, mid.Y-pa.Y)})
	cor.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: pb}, Dragged: fyne.NewDelta(pb.X-mid.X, pb.Y-mid.Y)})
	cor.DragEnd()
	if len(got) != 4 || got[0].phase != EditBegin || got[1].phase != EditMove || got[2].phase != EditMove || got[3].phase != EditEnd {
		t.Fatalf("drag gave %+v", got)
	}
	if !near(got[0].idx, a) || !near(got[3].idx, b) || got[1].idx[1] != float64(cor.Slice()) {
		t.Fatalf("drag from %v to %v gave %+v", a, b, got)
	}
	if r.scene.Cursor() != cursor {
		t.Fatal("an edit gesture moved the crosshair")
	}

	cor.SetBrushRadius(5)
	cor.MouseIn(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: pa}})
	c, rad, shown := cor.BrushCircle()
	if !shown || math.Abs(float64(rad-5*cor.MMToScreen())) > 1e-3 || math.Abs(float64(c.X-pa.X)) > 1e-3 {
		t.Fatalf("brush circle %v r %.2f shown %v", c, rad, shown)
	}
	// The scale is physical: 10 voxels of 0.8 mm along x are 8 mm.
	d := cor.ScreenPosition([3]int{20, 0, 5}).X - cor.ScreenPosition([3]int{10, 0, 5}).X
	if math.Abs(float64(d/cor.MMToScreen())-8) > 1e-3 {
		t.Fatalf("10 voxels span %.3f mm on screen", d/cor.MMToScreen())
	}
	cor.MouseOut()
	if _, _, shown := cor.BrushCircle(); shown {
		t.Fatal("brush circle shown after the pointer left")
	}
	cor.SetBrushRadius(0)
	cor.MouseIn(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: pa}})
	if _, _, shown := cor.BrushCircle(); shown {
		t.Fatal("brush circle shown with no brush")
	}
	// Out of edit mode a click moves the crosshair again.
	cor.EditMode = false
	got = nil
	cor.Tapped(&fyne.PointEvent{Position: pb})
	if len(got) != 0 || r.scene.Cursor() == cursor {
		t.Fatal("a click outside edit mode did not move the crosshair")
	}
}

func near(f [3]float64, i [3]int) bool {
	for a := range f {
		if math.Abs(f[a]-float64(i[a])) > 0.01 {
			return false
		}
	}
	return true
}
