package dicomio

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

func TestLoadChaosMatchesReferenceNIfTI(t *testing.T) {
	dir := shareddata.Path(t, "cases", "chaos_ct01", "dicom")
	v, cat, err := LoadPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Series) != 1 || len(cat.Skipped) != 0 {
		t.Fatalf("catalog: %d series, %d skipped; want 1 and 0", len(cat.Series), len(cat.Skipped))
	}
	sum := cat.Series[0].Summary()
	for _, want := range []string{"CHAOS CT_SET_3", "#4", "| CT |", "78 slices 512x512", "3.2 mm"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	if v.Size != [3]int{512, 512, 78} {
		t.Fatalf("size %v, want 512×512×78", v.Size)
	}
	// PixelSpacing is 0.7265625\0.7265625 and positions step by exactly 2 mm.
	if want := [3]float64{0.7265625, 0.7265625, 2}; !near3(v.Spacing, want, 1e-9) {
		t.Errorf("spacing %v, want %v", v.Spacing, want)
	}
	// Sorted along +z (the normal of IOP 1\0\0\0\1\0): first slice is the
	// lowest, IPP -185\-98\1536.5 (the file with 1690.5 comes last).
	if want := [3]float64{-185, -98, 1536.5}; !near3(v.Origin, want, 1e-9) {
		t.Errorf("origin %v, want %v", v.Origin, want)
	}
	if v.Direction != [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}} {
		t.Errorf("direction %v, want identity", v.Direction)
	}
	lo, hi := v.Range()
	if lo < -1100 || lo > -900 || hi < 1000 || hi > 4000 {
		t.Errorf("HU range [%d, %d] is implausible for contrast CT", lo, hi)
	}
	// Air in front of the patient: the top rows of a mid slice.
	var air []int
	for i := 0; i < 512; i++ {
		air = append(air, int(v.At(i, 2, 39)))
	}
	sort.Ints(air)
	if m := air[len(air)/2]; m < -1024 || m > -950 {
		t.Errorf("median of the air row is %d HU, want about -1000", m)
	}
	info := v.Info
	if info.Modality != "CT" || info.PatientName != "CHAOS CT_SET_3" || info.SeriesInstanceUID != "1.2.840.113704.1.1762661655.11024.1129934350.12" ||
		info.FrameOfReference == "" || info.StudyInstanceUID == "" || info.SOPClassUID != "1.2.840.10008.5.1.4.1.1.2" {
		t.Errorf("info %+v", info)
	}
	if len(info.SOPInstanceUIDs) != 78 || len(info.Warnings) != 0 {
		t.Errorf("%d SOP UIDs, warnings %q", len(info.SOPInstanceUIDs), info.Warnings)
	}
	seen := map[string]bool{}
	for _, u := range info.SOPInstanceUIDs {
		if u == "" || seen[u] {
			t.Fatalf("SOPInstanceUIDs has an empty or repeated UID %q", u)
		}
		seen[u] = true
	}
	ref := readNIfTIWithNibabel(t, shareddata.Path(t, "cases", "chaos_ct01", "ct.nii.gz"))
	compareWorld(t, "chaos_ct01", v, ref, 1e-3, true)
}

// TestLoadMatchesDcm2niix compares with dcm2niix run on the same files.
func TestLoadMatchesDcm2niix(t *testing.T) {
	bin, err := exec.LookPath("dcm2niix")
	if err != nil {
		t.Skip("dcm2niix is not installed: cannot cross-check")
	}
	cases := []struct {
		series string
		path   []string
		n      int
		even   bool // dcm2niix and Load agree on the slice step only when even
		warn   []string
	}{
		// Uneven: resampled like dcm2niix's ref_Eq_1.nii (8 slices).
		{"77654033/CT2", []string{"dicom", "pydicom-testfiles", "dicomdirtests", "77654033", "CT2"}, 8, true, []string{"uneven slice spacing", "missing slices", "resampled to a regular grid like dcm2niix: 8 slices"}},
		{"98892001/CT5N", []string{"dicom", "pydicom-testfiles", "dicomdirtests", "98892001", "CT5N"}, 5, true, nil},
		{"chaos_ct01", []string{"cases", "chaos_ct01", "dicom"}, 78, true, nil},
	}
	for _, c := range cases {
		t.Run(c.series, func(t *testing.T) {
			dir := shareddata.Path(t, c.path...)
			v, _, err := LoadPath(context.Background(), dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if v.Size[2] != c.n {
				t.Fatalf("%d slices, want %d", v.Size[2], c.n)
			}
			for _, w := range c.warn {
				if !containsSub(v.Info.Warnings, w) {
					t.Errorf("warnings %q lack %q", v.Info.Warnings, w)
				}
			}
			if c.warn == nil && len(v.Info.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", v.Info.Warnings)
			}
			out := t.TempDir()
			if b, err := exec.Command(bin, "-z", "n", "-f", "ref", "-o", out, dir).CombinedOutput(); err != nil {
				t.Fatalf("dcm2niix: %v\n%s", err, b)
			}
			refName := "ref.nii"
			if containsSub(v.Info.Warnings, "resampled to a regular grid") {
				refName = "ref_Eq_1.nii"
			}
			ref := readNIfTIWithNibabel(t, filepath.Join(out, refName))
			compareWorld(t, c.series, v, ref, 1e-3, c.even)
		})
	}
}

func TestScanWholeTreeAccountsForEveryFile(t *testing.T) {
	root := shareddata.Path(t, "dicom")
	var all []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			all = append(all, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	cat, err := Scan(context.Background(), []string{root}, func(done, total int) {
		calls.Add(1)
		if done < 1 || done > total || total != len(all) {
			t.Errorf("progress(%d, %d) with %d files", done, total, len(all))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != int64(len(all)) {
		t.Errorf("progress called %d times for %d files", calls.Load(), len(all))
	}
	where := map[string]string{}
	slices := map[string]bool{} // path and frame
	for _, s := range cat.Series {
		if len(s.Files) == 0 || s.Summary() == "" || len(s.Frames) != len(s.Files) {
			t.Errorf("series %s is empty, has no summary or no frame list", s.Key)
		}
		for i, f := range s.Files {
			k := f + "#" + strconv.Itoa(s.Frames[i])
			if slices[k] {
				t.Errorf("%s frame %d in two places", f, s.Frames[i])
			}
			slices[k] = true
			where[f] = "series " + s.Key
		}
	}
	for _, sk := range cat.Skipped {
		// A multi-frame file may give some frames to a series and have
		// others (duplicates) skipped: its reason says so.
		if where[sk.Path] != "" && !strings.Contains(sk.Reason, "frames at already occupied positions") {
			t.Errorf("%s skipped and in %s", sk.Path, where[sk.Path])
		}
		if sk.Reason == "" || strings.ContainsAny(sk.Reason, "\n\r") {
			t.Errorf("%s: reason %q is not one line", sk.Path, sk.Reason)
		}
		where[sk.Path] = "skipped"
	}
	for _, f := range all {
		if where[f] == "" {
			t.Errorf("%s is neither in a series nor skipped", f)
		}
	}
	if len(where) != len(all) {
		t.Errorf("catalog names %d files, the tree has %d", len(where), len(all))
	}
	// Largest non-localizer first.
	for i := 1; i < len(cat.Series); i++ {
		a, b := cat.Series[i-1], cat.Series[i]
		if !a.IsLocalizer && !b.IsLocalizer && a.NumSlices() < b.NumSlices() || a.IsLocalizer && !b.IsLocalizer {
			t.Errorf("series order: %s before %s", a.Summary(), b.Summary())
		}
	}
	// Every series either loads or says clearly why not, within a bound.
	for _, s := range cat.Series {
		start := time.Now()
		v, err := Load(context.Background(), s, nil)
		switch {
		case err != nil:
			t.Errorf("%s: %v", s.Summary(), err)
		case err == nil && v.Size[2] != s.NumSlices() && !containsSub(v.Info.Warnings, "resampled to a regular grid"):
			t.Errorf("%s: %d slices loaded", s.Summary(), v.Size[2])
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v", s.Summary(), d)
		}
	}
	// Each file's header on its own stays within a time bound (no file
	// makes the scanner hang).
	for _, f := range all {
		start := time.Now()
		_, _ = readHeader(f)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: header took %v", f, d)
		}
	}
}

// TestGantryTiltAndUnevenSpacingMatchDcm2niix loads the GE head series of
// dcm_qa_ct (18.5° gantry tilt, slice steps 1.08–6.99 mm) and compares it
// with dcm2niix's tilt-corrected, equidistant output (ref_Tilt_Eq_1.nii)
// produced by this test: same grid size and spacing, same origin and in-plane
// axes, and the same voxels.
func TestGantryTiltAndUnevenSpacingMatchDcm2niix(t *testing.T) {
	dir := shareddata.Path(t, "dicom", "dcm_qa_ct", "In", "GE")
	v, _, err := LoadPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"gantry tilt: slices advance 18.50°", "GantryDetectorTilt 18.5", "enlarged to 512x611",
		"uneven slice spacing: steps range from 1.08", "to 6.99", "56 slices at 2.620 mm from 28"} {
		if !containsSub(v.Info.Warnings, w) {
			t.Errorf("warnings %q lack %q", v.Info.Warnings, w)
		}
	}
	if v.Size != [3]int{512, 611, 56} {
		t.Fatalf("size %v, want 512×611×56", v.Size)
	}
	// The grid is orthogonal: row, column and their normal.
	d := v.Direction
	for a := 0; a < 3; a++ {
		for b := a + 1; b < 3; b++ {
			if x := d[0][a]*d[0][b] + d[1][a]*d[1][b] + d[2][a]*d[2][b]; math.Abs(x) > 1e-6 {
				t.Errorf("axes %d and %d not perpendicular (cos %g)", a, b, x)
			}
		}
	}
	bin, err := exec.LookPath("dcm2niix")
	if err != nil {
		t.Skip("dcm2niix is not installed: cannot cross-check")
	}
	out := t.TempDir()
	if b, err := exec.Command(bin, "-z", "n", "-f", "ref", "-o", out, dir).CombinedOutput(); err != nil {
		t.Fatalf("dcm2niix: %v\n%s", err, b)
	}
	shape, ras, ref := niiDump(t, filepath.Join(out, "ref_Tilt_Eq_1.nii"))
	if shape != v.Size {
		t.Fatalf("dcm2niix grid %v, ours %v", shape, v.Size)
	}
	// dcm2niix stores rows bottom-up: its (i, j, k) is our (i, Ny-1-j, k).
	// Our affine with j flipped must equal its affine (RAS → LPS), except
	// two entries dcm2niix v1.0.20220720 gets wrong for tilt+equidistant
	// output: nii_saveNII3Deq scales the whole srow_z (its own "to do"
	// comment) instead of the k column, and the tilt step leaves k's y
	// unchanged. Those are [2][1] and [1][2]; the rest must agree.
	ours := v.AffineLPS()
	for r := 0; r < 3; r++ {
		ours[r][3] += ours[r][1] * float64(v.Size[1]-1)
		ours[r][1] = -ours[r][1]
	}
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			if r == 2 && c == 1 || r == 1 && c == 2 {
				continue
			}
			want := ras[r][c]
			if r < 2 {
				want = -want
			}
			if math.Abs(ours[r][c]-want) > 2e-3 {
				t.Errorf("affine[%d][%d] = %.4f, dcm2niix %.4f", r, c, ours[r][c], want)
			}
		}
	}
	nx, ny := v.Size[0], v.Size[1]
	diff, big, maxd := 0, 0, 0
	for k := 0; k < v.Size[2]; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				a := int(v.At(i, ny-1-j, k))
				b := int(ref[(k*ny+j)*nx+i])
				if a != b {
					diff++
					if a-b > 1 || b-a > 1 {
						big++
					}
					maxd = max(maxd, a-b, b-a)
				}
			}
		}
	}
	// dcm2niix interpolates in float32, we in float64: values that land
	// on .5 round either way, so ±1 HU is allowed, and nothing more.
	if big > 0 || diff > len(ref)/1000 {
		t.Errorf("%d of %d voxels differ from dcm2niix (%d by more than 1 HU, up to %d)", diff, len(ref), big, maxd)
	}
	t.Logf("%d of %d voxels differ from dcm2niix, all by 1 HU (rounding)", diff, len(ref))
}

func TestSeriesStayApartAndLocalizersStayOut(t *testing.T) {
	chaos := shareddata.Path(t, "cases", "chaos_ct01", "dicom")
	tests := shareddata.Path(t, "dicom", "pydicom-testfiles", "dicomdirtests", "98892001")
	// One folder with chaos, a 5-slice CT series and two scout images
	// (ImageType LOCALIZER), linked rather than copied.
	mixed := t.TempDir()
	link := func(src string) {
		if err := os.Symlink(src, filepath.Join(mixed, strings.ReplaceAll(strings.TrimPrefix(src, "/"), "/", "_"))); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{chaos, filepath.Join(tests, "CT5N"), filepath.Join(tests, "CT2N")} {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			link(filepath.Join(d, e.Name()))
		}
	}
	v, cat, err := LoadPath(context.Background(), mixed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Size != [3]int{512, 512, 78} {
		t.Errorf("LoadPath picked %v, want chaos 512×512×78", v.Size)
	}
	var sizes []int
	localizers := 0
	for _, s := range cat.Series {
		sizes = append(sizes, s.NumSlices())
		if s.IsLocalizer {
			localizers++
			if !strings.Contains(s.Summary(), "localizer") {
				t.Errorf("summary %q does not say localizer", s.Summary())
			}
		}
	}
	// Two scouts in different orientations: two single-image localizer groups.
	if want := []int{78, 5, 1, 1}; !slices.Equal(sizes, want) || localizers != 2 || len(cat.Skipped) != 0 {
		t.Errorf("series sizes %v (%d localizers, %d skipped), want %v with 2 localizers", sizes, localizers, len(cat.Skipped), want)
	}
	if !cat.Series[0].IsLocalizer && cat.Series[0].Key != "1.2.840.113704.1.1762661655.11024.1129934350.12" {
		t.Errorf("first series key %s", cat.Series[0].Key)
	}
	// A folder of localizers only has nothing to load.
	if _, _, err := LoadPath(context.Background(), filepath.Join(tests, "CT2N"), nil); err == nil || !strings.Contains(err.Error(), "only localizer") {
		t.Errorf("LoadPath on scouts only: %v", err)
	}
}

func TestMissingUIDsJPEG2000LoadsAsOneVolume(t *testing.T) {
	dir := shareddata.Path(t, "cases", "totalseg_example_dicom", "dicom")
	cat, err := Scan(context.Background(), []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Series) != 1 || cat.Series[0].NumSlices() != 20 {
		t.Fatalf("want one 20-slice series without UIDs, got %d series", len(cat.Series))
	}
	s := cat.Series[0]
	if s.SeriesInstanceUID != "" || !strings.HasPrefix(s.Key, "nouid:") {
		t.Errorf("key %q, uid %q", s.Key, s.SeriesInstanceUID)
	}
	v, err := Load(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Size != [3]int{512, 512, 20} {
		t.Fatalf("size %v, want 512×512×20", v.Size)
	}
	if want := [3]float64{0.9765625, 0.9765625, 2}; !near3(v.Spacing, want, 1e-3) {
		t.Errorf("spacing %v, want about %v", v.Spacing, want)
	}
	// Same voxels and world positions as dcm2niix (built with OpenJPEG).
	bin, err := exec.LookPath("dcm2niix")
	if err != nil {
		t.Skip("dcm2niix is not installed: cannot cross-check")
	}
	out := t.TempDir()
	if b, err := exec.Command(bin, "-z", "n", "-f", "ref", "-o", out, dir).CombinedOutput(); err != nil {
		t.Fatalf("dcm2niix: %v\n%s", err, b)
	}
	ref := readNIfTIWithNibabel(t, filepath.Join(out, "ref.nii"))
	compareWorld(t, "totalseg_example_dicom", v, ref, 1e-3, true)
}

func TestCancellationStopsPromptly(t *testing.T) {
	dir := shareddata.Path(t, "cases", "chaos_ct01", "dicom")
	cat, err := Scan(context.Background(), []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var after atomic.Int64
	start := time.Now()
	var cancelled atomic.Bool
	_, err = Load(ctx, cat.Series[0], func(done, total int) {
		if cancelled.Load() {
			after.Add(1)
		}
		if done == 5 {
			cancel()
			cancelled.Store(true)
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Load after cancel: %v, want context.Canceled", err)
	}
	// Workers finish the file they hold, then stop.
	if n := after.Load(); n > int64(2*runtime.NumCPU()) {
		t.Errorf("%d slices decoded after cancel", n)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled load took %v", d)
	}
	// Scan with an already cancelled context.
	if _, err := Scan(ctx, []string{dir}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Scan after cancel: %v", err)
	}
	if _, _, err := LoadPath(ctx, dir, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("LoadPath after cancel: %v", err)
	}
}

func TestNeverWritesIntoInput(t *testing.T) {
	dir := shareddata.Path(t, "cases", "chaos_ct01")
	before := snapshot(t, dir)
	if _, _, err := LoadPath(context.Background(), filepath.Join(dir, "dicom"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Scan(context.Background(), []string{dir}, nil); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir)
	if len(before) != len(after) {
		t.Fatalf("%d entries before, %d after", len(before), len(after))
	}
	for p, m := range before {
		if after[p] != m {
			t.Errorf("%s changed: %s → %s", p, m, after[p])
		}
	}
}

func TestLoadDetectsFileChangedSinceScan(t *testing.T) {
	src := shareddata.Path(t, "dicom", "pydicom-testfiles", "CT_small.dcm")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ct.dcm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cat, err := Scan(context.Background(), []string{p}, nil)
	if err != nil || len(cat.Series) != 1 {
		t.Fatalf("scan: %v %+v", err, cat)
	}
	v, err := Load(context.Background(), cat.Series[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	// CT_small.dcm: signed 16-bit, intercept -1024; pydicom reads 175 at
	// (row 0, col 0), so -849 HU.
	if got := v.At(0, 0, 0); got != 175-1024 {
		t.Errorf("voxel (0,0) = %d, want %d", got, 175-1024)
	}
	if err := os.WriteFile(p, append(b, 0, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), cat.Series[0], nil); err == nil || !strings.Contains(err.Error(), "changed on disk") {
		t.Errorf("Load of a changed file: %v", err)
	}
}

func snapshot(t *testing.T, dir string) map[string]string {
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		m[p] = st.ModTime().String() + " " + st.Mode().String() + " " + strconv.FormatInt(st.Size(), 10)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func near3(a, b [3]float64, tol float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

func containsSub(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
