package app

import (
	"context"
	"path/filepath"

	"github.com/liverseg/liverseg/phantom"
)

// DemoSeed selects the built-in demo study: the synthetic phantom with this
// seed (package phantom), which is not patient data.
const DemoSeed = 1

// OpenDemo opens the built-in demo study. The phantom is generated into the
// user's cache folder on first use (a few seconds, with the progress
// dialog) and reused after; it then opens through the same DICOM loading
// path as any study, and its true liver mask is shown as the reference
// overlay so the student's result can be judged against it. Must be called
// on the Fyne goroutine.
func (u *UI) OpenDemo() {
	if ed := u.edit.ed; ed != nil && ed.Dirty() {
		u.ConfirmDiscardEdits("Open the demo study", u.OpenDemo)
		return
	}
	u.startLoad("Preparing the demo study (synthetic phantom, not patient data)")
	gen := u.load.gen
	u.loadTask(func(ctx context.Context) {
		u.setPhase(gen, "Generating the synthetic phantom (first run only)…", false)
		dir, err := phantom.Cached(DemoSeed)
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		if err != nil {
			u.finish(gen, "demo study", nil, err)
			return
		}
		u.do(func() {
			if gen != u.load.gen {
				return // the user opened something else meanwhile
			}
			u.Open(filepath.Join(dir, phantom.DICOMDir))
			u.load.thenRef = filepath.Join(dir, phantom.LiverMaskFile)
		})
	})
}
