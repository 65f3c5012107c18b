package app

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/segedit"
	"github.com/liverseg/liverseg/viewer/sliceview"
)

// BenchmarkEditStrokeInWindow is one brush stroke as the window handles it
// on ircad_p07 (512×512×151) starting from its reference liver: the
// pointer events of a 60 mm drag on the axial view (21 of them), each
// painting along the way and redrawing the overlay layers of the three
// views (at the test driver's window size, 1200×800), plus the end of the
// stroke (history, figures). ns/op is the whole stroke.
func BenchmarkEditStrokeInWindow(b *testing.B) {
	ct, err := nifti.Read(shareddata.Path(b, "cases", "ircad_p07", "ct.nii.gz"))
	if err != nil {
		b.Fatal(err)
	}
	ref, err := nifti.ReadMask(shareddata.Path(b, "cases", "ircad_p07", "liver.nii.gz"))
	if err != nil {
		b.Fatal(err)
	}
	b.Setenv("XDG_CACHE_HOME", b.TempDir())
	a := test.NewTempApp(b)
	u := New(a)
	defer u.win.Close()
	u.win.Resize(fyne.NewSize(1200, 800))
	if err := u.ShowVolume(ct); err != nil {
		b.Fatal(err)
	}
	ed, err := segedit.New(ct, ref, "reference", segedit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	u.installEditor(ed)
	u.SetTool(ToolPaint)
	u.SetBrushRadius(10)
	u.edit.store = nil // no autosave timers in a benchmark
	ax := u.views[0]
	u.scene.SetSlice(ax.Plane(), 110)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 1 {
			u.SetTool(ToolErase)
		} else {
			u.SetTool(ToolPaint)
		}
		for p := 0; p <= 20; p++ {
			ph := sliceview.EditMove
			if p == 0 {
				ph = sliceview.EditBegin
			}
			u.onEdit(ax, ph, [3]float64{150 + float64(p)*3.8, 280, 110})
		}
		u.onEdit(ax, sliceview.EditEnd, [3]float64{226, 280, 110})
	}
}
