package prefstore

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTripAndTypes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg", "settings.json")
	s := open(t, path)
	s.SetString("dir", "/data/ct")
	s.SetBool("fill", false)
	s.SetFloat("opacity", 0.6)
	s.SetInt("threads", 3)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	r := open(t, path)
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"string", r.String("dir"), "/data/ct"},
		{"bool", r.BoolWithFallback("fill", true), false},
		{"bool fallback", r.BoolWithFallback("nope", true), true},
		{"float", r.FloatWithFallback("opacity", 1), 0.6},
		{"int", r.Int("threads"), 3},
		{"int of a fraction", r.Int("opacity"), 0},
		{"string of a number", r.String("threads"), ""},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestSaveIsDelayedAndCoalesced: a change is on disk SaveDelay later,
// without Flush.
func TestSaveIsDelayedAndCoalesced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.json")
	s := open(t, path)
	for i := 0; i <= 100; i++ {
		s.SetFloat("opacity", float64(i)/100)
	}
	deadline := time.Now().Add(5 * time.Second)
	for open(t, path).FloatWithFallback("opacity", -1) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the last change was not saved within 5 s")
		}
		time.Sleep(SaveDelay / 4)
	}
}

// TestTwoInstancesKeepEachOthersChanges: each save merges into the file as
// it is, so neither instance's setting is lost.
func TestTwoInstancesKeepEachOthersChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.json")
	a, b := open(t, path), open(t, path)
	a.SetString("exportDir", "/a")
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	b.SetString("colour", "Cyan")
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	r := open(t, path)
	if r.String("exportDir") != "/a" || r.String("colour") != "Cyan" {
		t.Fatalf("after two instances saved: %q, %q", r.String("exportDir"), r.String("colour"))
	}
}

// TestReaderNeverSeesAHalfWrittenFile reads the file in a loop while two
// writers save large values: every read must be complete JSON (a file
// rewritten in place is seen empty or cut).
func TestReaderNeverSeesAHalfWrittenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.json")
	w1, w2 := open(t, path), open(t, path)
	big := strings.Repeat("x", 256<<10)
	w1.SetString("seed", big)
	if err := w1.Flush(); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for n, w := range []*Store{w1, w2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				w.SetString("k"+string(rune('a'+n)), big[:len(big)-i%1000])
				if err := w.Flush(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	reads := 0
	for start := time.Now(); time.Since(start) < time.Second; reads++ {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("read %d: %d bytes, not complete JSON: %v", reads, len(b), err)
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d complete reads during saves", reads)
}

// TestBrokenFileIsKeptAside: a file that is not JSON is moved to .broken
// (not overwritten), the error names it, and the store works.
func TestBrokenFileIsKeptAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.json")
	if err := os.WriteFile(path, []byte(`{"lastOpenFolder": "/da`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), ".broken") {
		t.Fatalf("err = %v, want one naming the file and where it went", err)
	}
	if b, _ := os.ReadFile(path + ".broken"); string(b) != `{"lastOpenFolder": "/da` {
		t.Errorf("the broken file was not kept: %q", b)
	}
	s.SetString("a", "b")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if open(t, path).String("a") != "b" {
		t.Error("the store does not save after a broken file")
	}
}
