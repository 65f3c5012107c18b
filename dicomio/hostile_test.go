package dicomio

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostileInputIsSkippedWithReasons mixes a good series with damaged,
// absurd and non-DICOM files. Scan must list each bad file once with a
// one-line reason, load the good series, never panic or hang, and leave the
// folder untouched.
func TestHostileInputIsSkippedWithReasons(t *testing.T) {
	dir := t.TempDir()
	stack(t, dir, "good", defaultSlice(), []float64{0, 1, 2}, 0)
	good, err := os.ReadFile(filepath.Join(dir, "good500"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Where things are in the good file.
	lay, _, err := readLayout(bytesReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // file → words its reason must contain
	write("truncated_in_pixels", good[:len(good)-7])
	want["truncated_in_pixels"] = "past the end of the file"
	write("truncated_in_header", good[:200])
	want["truncated_in_header"] = "unreadable DICOM"
	write("empty", nil)
	want["empty"] = "not a DICOM file: only 0 bytes"
	write("notes.txt", []byte("radiology report\nnot an image\n"))
	want["notes.txt"] = "not a DICOM file"
	write("image.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x00\x00\x00\x00"))
	want["image.png"] = "not a DICOM file"
	// A length field that claims 4 GiB − 2 for the Pixel Data.
	b := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(b[lay.pixOff-4:], 0xFFFFFFFE)
	write("wrong_length", b)
	want["wrong_length"] = "past the end of the file"
	// A bad VR in the middle of the header.
	b = append([]byte(nil), good...)
	i := strings.Index(string(b), "CS")
	b[i], b[i+1] = 0x01, 0x02
	write("bad_vr", b)
	want["bad_vr"] = "invalid VR"
	// 65535 × 65535 16-bit pixels: 8 GiB for one slice.
	huge := defaultSlice()
	huge.rows, huge.cols = 65535, 65535
	huge.words = make([]uint32, 6)
	write("absurd_dimensions", huge.bytes())
	want["absurd_dimensions"] = "beyond the 2 GiB limit per volume"
	// A compressed slice whose frame is garbage: scanned, then Load fails.
	bad := defaultSlice()
	bad.ts, bad.jpegFrame = TSJPEGLSLossless, []byte("not JPEG-LS at all")
	bad.seriesUID = "9.9.9"
	write("garbage_jpegls", bad.bytes())
	// A named pipe: opening it would block; it must not be opened.
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	want["pipe"] = "not a regular file"
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "broken_link")); err != nil {
		t.Fatal(err)
	}
	want["broken_link"] = "cannot read"
	// Unreadable permissions: tests run as root here, and chmod 000 does
	// not stop root, so that case is not built; an open error takes the
	// same path as the broken link above ("cannot read" / the OS error).

	before := snapshot(t, dir)
	start := time.Now()
	cat, err := Scan(context.Background(), []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("scan took %v", d)
	}
	got := map[string]string{}
	for _, sk := range cat.Skipped {
		name := filepath.Base(sk.Path)
		if got[name] != "" {
			t.Errorf("%s listed twice", name)
		}
		if sk.Reason == "" || strings.ContainsAny(sk.Reason, "\r\n") {
			t.Errorf("%s: reason %q is not one line", name, sk.Reason)
		}
		got[name] = sk.Reason
	}
	for name, words := range want {
		if !strings.Contains(got[name], words) {
			t.Errorf("%s: reason %q, want it to contain %q", name, got[name], words)
		}
	}
	var goodSeries, badSeries *Series
	for _, s := range cat.Series {
		switch s.SeriesInstanceUID {
		case "1.2.3.4.5":
			goodSeries = s
		case "9.9.9":
			badSeries = s
		}
	}
	if goodSeries == nil || goodSeries.NumSlices() != 3 || badSeries == nil {
		t.Fatalf("series %+v", cat.Series)
	}
	if v, err := Load(context.Background(), goodSeries, nil); err != nil || v.Size[2] != 3 {
		t.Errorf("good series: %v", err)
	}
	if _, err := Load(context.Background(), badSeries, nil); err == nil || !strings.Contains(err.Error(), "garbage_jpegls: cannot decode compressed frame: JPEG-LS") {
		t.Errorf("garbage JPEG-LS: %v", err)
	}
	after := snapshot(t, dir)
	if len(before) != len(after) {
		t.Errorf("%d entries before, %d after", len(before), len(after))
	}
	for p, m := range before {
		if after[p] != m {
			t.Errorf("%s changed: %s → %s", p, m, after[p])
		}
	}
}

// TestPerFileTimeBound makes one file's header read hang and checks that
// Scan gives up on it with a reason while the rest is scanned.
func TestPerFileTimeBound(t *testing.T) {
	dir := t.TempDir()
	stack(t, dir, "a", defaultSlice(), []float64{0, 1}, 0)
	if err := os.WriteFile(filepath.Join(dir, "slow.dcm"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	oldFn, oldLimit := readHeaderFn, perFileTimeout
	defer func() { readHeaderFn, perFileTimeout = oldFn, oldLimit }()
	perFileTimeout = 200 * time.Millisecond
	readHeaderFn = func(p string) (*fileInfo, error) {
		if filepath.Base(p) == "slow.dcm" {
			<-release // a parser stuck on this file
			return nil, errors.New("released")
		}
		return readHeader(p)
	}
	start := time.Now()
	cat, err := Scan(context.Background(), []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("scan took %v", d)
	}
	if len(cat.Series) != 1 || cat.Series[0].NumSlices() != 2 || len(cat.Skipped) != 1 ||
		!strings.Contains(cat.Skipped[0].Reason, "reading the header took more than 200ms") {
		t.Errorf("series %d, skipped %+v", len(cat.Series), cat.Skipped)
	}
}

// TestPanicInOneFileIsContained checks that a panic while reading one file
// becomes that file's reason, not a crash.
func TestPanicInOneFileIsContained(t *testing.T) {
	dir := t.TempDir()
	stack(t, dir, "a", defaultSlice(), []float64{0, 1}, 0)
	if err := os.WriteFile(filepath.Join(dir, "boom.dcm"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := readHeaderFn
	defer func() { readHeaderFn = old }()
	readHeaderFn = func(p string) (*fileInfo, error) {
		if filepath.Base(p) == "boom.dcm" {
			var m map[string]int
			m["x"]++ // nil map write: a panic
		}
		return readHeader(p)
	}
	cat, err := Scan(context.Background(), []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Series) != 1 || len(cat.Skipped) != 1 || !strings.Contains(cat.Skipped[0].Reason, "internal error while reading") {
		t.Errorf("series %d, skipped %+v", len(cat.Series), cat.Skipped)
	}
}

func bytesReader(b []byte) *bytesReaderAt { return &bytesReaderAt{b} }

type bytesReaderAt struct{ b []byte }

func (r *bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestSlowCodecIsBounded loads a slice whose JPEG-LS frame (16×12, 279
// bytes, found by FuzzDecodeFrame) keeps CharLS 2.4.1, Debian 12's version,
// busy for about ten seconds before it reports "invalid JPEG-LS stream"
// (an upstream defect; CharLS later added checks against such loops). Load
// must give up on the slice at the per-slice bound instead of waiting.
func TestSlowCodecIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the abandoned decoder keeps a core busy for about 10 s")
	}
	frame, err := os.ReadFile(filepath.Join("testdata", "charls241_slow_frame.jls"))
	if err != nil {
		t.Fatal(err)
	}
	s := defaultSlice()
	s.ts, s.jpegFrame = TSJPEGLSLossless, frame
	s.rows, s.cols = 12, 16
	p := writeSynth(t, t.TempDir(), "slow.dcm", s)
	old := perSliceTimeout
	defer func() { perSliceTimeout = old }()
	perSliceTimeout = time.Second
	start := time.Now()
	_, _, err = LoadPath(context.Background(), p, nil)
	if err == nil || !strings.Contains(err.Error(), "decoding took more than 1s") {
		t.Errorf("LoadPath: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("load took %v", d)
	}
}

// TestParserGetsOnlyCheckedBytes replays a FuzzHeader finding: a file with
// no Pixel Data whose walk stops at an element past (7FE0,0010), followed by
// a UT element claiming 4 GB. The third-party parser allocates a value's
// claimed length before reading it, so it must only ever see the bytes our
// walker checked: reading this header must allocate kilobytes, not 4 GB.
func TestParserGetsOnlyCheckedBytes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzHeader", "fd507e5525473fec"))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Split(string(raw), "\n")[1]
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(s)
	if !strings.Contains(s, "UT,\x142k1\xee") {
		t.Fatal("the seed no longer holds the 4 GB UT element")
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := 0; i < 10; i++ {
		_, _ = readHeaderAt(bytesReader(b), int64(len(b)), 0, "x.dcm")
	}
	runtime.ReadMemStats(&m1)
	if d := m1.TotalAlloc - m0.TotalAlloc; d > 10<<20 {
		t.Errorf("10 header reads allocated %d MiB", d>>20)
	}
}
