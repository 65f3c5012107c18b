package app

import (
	"sync"
	"testing"

	"fyne.io/fyne/v2"

	"github.com/liverseg/liverseg/internal/testsupport/testct"
)

// animDriver wraps the test driver and records the animations that repeat
// forever (an infinite progress bar's, a cursor's): started and not yet
// stopped, such an animation repaints the window every frame for as long as
// it lives, visible or not (issue 13).
type animDriver struct {
	fyne.Driver
	mu      sync.Mutex
	running map[*fyne.Animation]bool
	started int
}

func (d *animDriver) StartAnimation(a *fyne.Animation) {
	if a.RepeatCount == fyne.AnimationRepeatForever {
		d.mu.Lock()
		d.running[a] = true
		d.started++
		d.mu.Unlock()
	}
	d.Driver.StartAnimation(a)
}

func (d *animDriver) StopAnimation(a *fyne.Animation) {
	d.mu.Lock()
	delete(d.running, a)
	d.mu.Unlock()
	d.Driver.StopAnimation(a)
}

// counts returns how many endless animations run now and were ever started.
func (d *animDriver) counts() (running, started int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.running), d.started
}

type animApp struct {
	fyne.App
	d *animDriver
}

func (a *animApp) Driver() fyne.Driver { return a.d }

// trackAnimations makes the current test app report its animations to the
// returned driver (fyne.Animation.Start and Stop go through the current
// app's driver). test.NewTempApp's clean-up replaces the app afterwards.
func trackAnimations() *animDriver {
	a := fyne.CurrentApp()
	d := &animDriver{Driver: a.Driver(), running: map[*fyne.Animation]bool{}}
	fyne.SetCurrentApp(&animApp{App: a, d: d})
	return d
}

// TestNoAnimationLeftRunning opens the abdominal CT (its DICOM series: the
// loading dialog's bar animates until the first progress report, then
// gives way to the counting bar), lets the student run, runs a slower
// model (its bar shows), then the comparison, and after each requires that
// no endless animation is left running and no infinite bar says it runs.
func TestNoAnimationLeftRunning(t *testing.T) {
	s := testct.Abdomen(t)
	dir, real := testModels(t)
	u, runDone, postDone := segUI(t, dir)
	anim := trackAnimations()
	check := func(after string) {
		t.Helper()
		pump()
		running, started := anim.counts()
		if running != 0 {
			t.Errorf("after %s: %d endless animation(s) still running (%d started)", after, running, started)
		}
		if u.load.barInf != nil && u.load.barInf.Running() {
			t.Errorf("after %s: the loading bar still runs", after)
		}
		if u.seg.bar.Running() || u.seg.bar.Visible() {
			t.Errorf("after %s: the segmentation bar runs %v, shown %v", after, u.seg.bar.Running(), u.seg.bar.Visible())
		}
	}
	if err := openAndWait(t, u, s.DICOM); err != nil {
		t.Fatal(err)
	}
	if _, started := anim.counts(); started == 0 {
		t.Fatal("the loading dialog's bar never animated: the test would not see a bar left running")
	}
	if err := waitRun(t, runDone); err != nil {
		t.Fatalf("automatic segmentation: %v", err)
	}
	waitPost(t, postDone)
	check("the load and the student's run")

	if !real {
		t.Skip("the shipped models are not in models/: no slower model and no comparison to run")
	}
	_, before := anim.counts()
	u.seg.RunModel("assistant")
	if err := waitRun(t, runDone); err != nil {
		t.Fatal(err)
	}
	waitPost(t, postDone)
	if _, after := anim.counts(); after == before {
		t.Logf("the assistant finished before its bar was due (%v)", barDelay)
	}
	check("the assistant's run")

	h := hookCompare(u)
	u.cmp.Compare()
	if err := wait(t, h.done, "comparison"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, &u.cmp.tableRun, "metrics table")
	check("the comparison")
}
