package app

import (
	"strings"
	"testing"
	"time"
)

// The demo study (no PATH on the command line) is the synthetic phantom,
// generated into the cache on first use, opened through the DICOM loader,
// with its true liver shown as the reference overlay.
func TestOpenDemoShowsPhantomWithTrueLiver(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a 512×512×84 phantom")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	u := newUI(t)
	done := make(chan error, 1)
	u.load.onDone = func(err error) { done <- err }
	u.OpenDemo()
	if err := waitFor(t, done, 3*time.Minute, "demo study"); err != nil {
		t.Fatalf("demo study: %v", err)
	}
	if u.vol == nil || !strings.HasPrefix(u.vol.Info.PatientID, "LIVERSEG-PHANTOM-") {
		t.Fatal("demo volume is not the phantom")
	}
	if u.vol.Info.Modality != "CT" || u.vol.Size[2] < 50 {
		t.Errorf("demo volume looks wrong: modality %q, size %v", u.vol.Info.Modality, u.vol.Size)
	}
	// The reference is read in the background after the volume shows.
	// The test goroutine is the main thread: the reference is read
	// between the closures it runs.
	waitUntil(t, time.Minute, "the demo's true liver as the reference overlay", func() bool { return u.seg.ref != nil && u.seg.ref.Count() > 0 })
	ml := float64(u.seg.ref.Count()) * u.seg.ref.VoxelVolume() / 1000
	if ml < 1000 || ml > 2000 {
		t.Errorf("true liver of the demo is %.0f mL, want a plausible 1.0–2.0 L", ml)
	}
}
