// Package thinct builds thin-slice CT series for tests and benchmarks:
// the real case chaos_ct01 from ../shared/data (78 slices of 512×512)
// interpolated along z to any number of slices over the same extent, or,
// where that folder is absent, LiverSeg's synthetic phantom, and written as
// a real DICOM series by dicomio.WriteSeries. Modern scanners reconstruct
// abdominal CT at 0.6–1 mm (400–1000 slices); the shared data set has no
// such study, and a committed one would be hundreds of MB, so the series
// are made at test time into a temporary folder and removed afterwards.
package thinct

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/phantom"
	"github.com/liverseg/liverseg/volume"
)

// Sizes are the slice counts the benchmarks use: the original case, a
// 0.5 mm reconstruction and a 1000-slice study.
var Sizes = []int{78, 310, 1000}

// SourceDir is the DICOM folder thin series are made from: chaos_ct01 when
// ../shared/data is present (real is true), else the cached phantom
// (generated on first use, a few seconds).
func SourceDir() (dir string, real bool, err error) {
	if root := shareddata.Root(); root != "" {
		d := filepath.Join(root, "cases", "chaos_ct01", "dicom")
		if _, err := os.Stat(d); err == nil {
			return d, true, nil
		}
	}
	d, err := phantom.Cached(1)
	if err != nil {
		return "", false, fmt.Errorf("thinct: synthetic phantom: %w", err)
	}
	return filepath.Join(d, phantom.DICOMDir), false, nil
}

// Resample returns v with n slices spread over the same z extent (first
// and last slice positions kept), each a linear interpolation of the two
// nearest input slices, rounded to the nearest HU. The in-plane grid is
// unchanged.
func Resample(v *volume.Volume, n int) (*volume.Volume, error) {
	nz := v.Size[2]
	if n < 2 || nz < 2 {
		return nil, fmt.Errorf("thinct: need at least 2 slices in and out, got %d → %d", nz, n)
	}
	g := v.Geometry
	g.Size[2] = n
	g.Spacing[2] = v.Spacing[2] * float64(nz-1) / float64(n-1)
	out := &volume.Volume{Geometry: g, Voxels: make([]int16, g.NumVoxels()), Info: v.Info}
	out.Info.SOPInstanceUIDs = nil
	plane := v.Size[0] * v.Size[1]
	step := float64(nz-1) / float64(n-1)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := w; k < n; k += workers {
				c := float64(k) * step
				lo := min(int(math.Floor(c)), nz-1)
				hi := min(lo+1, nz-1)
				t := c - float64(lo)
				a, b := v.Voxels[lo*plane:][:plane], v.Voxels[hi*plane:][:plane]
				dst := out.Voxels[k*plane:][:plane]
				for i := range dst {
					dst[i] = int16(math.Round(float64(a[i]) + t*float64(b[i]-a[i])))
				}
			}
		}(w)
	}
	wg.Wait()
	return out, nil
}

// Write writes the source study resampled to n slices as a DICOM series
// into dir (which must not exist or be empty) and returns the source's
// description ("chaos_ct01" or "phantom seed 1").
func Write(dir string, n int) (string, error) {
	src, real, err := SourceDir()
	if err != nil {
		return "", err
	}
	v, _, err := dicomio.LoadPath(context.Background(), src, nil)
	if err != nil {
		return "", fmt.Errorf("thinct: %w", err)
	}
	name := "phantom seed 1"
	if real {
		name = "chaos_ct01"
	}
	thin, err := Resample(v, n)
	if err != nil {
		return "", err
	}
	v = nil // the source is no longer needed: let a 1000-slice write use its memory
	err = dicomio.WriteSeries(dir, thin, dicomio.SeriesOptions{
		UIDSeed:           fmt.Sprintf("thinct/%s/%d", name, n),
		SeriesDescription: fmt.Sprintf("%s interpolated to %d slices (%.3g mm)", name, n, thin.Spacing[2]),
		ImageType:         []string{"ORIGINAL", "PRIMARY", "AXIAL"},
		BodyPartExamined:  "ABDOMEN",
	})
	if err != nil {
		return "", fmt.Errorf("thinct: %w", err)
	}
	return name, nil
}

var (
	mu    sync.Mutex
	root  string
	made  = map[int]string{}
	names = map[int]string{}
)

// Series returns the folder of an n-slice series, writing it on first use
// into a temporary folder shared by the whole test binary; call RemoveAll
// (from TestMain) when the tests are done.
func Series(n int) (dir, source string, err error) {
	mu.Lock()
	defer mu.Unlock()
	if d, ok := made[n]; ok {
		return d, names[n], nil
	}
	if root == "" {
		root, err = os.MkdirTemp("", "liverseg-thinct-")
		if err != nil {
			return "", "", fmt.Errorf("thinct: %w", err)
		}
	}
	dir = filepath.Join(root, fmt.Sprintf("slices%d", n))
	source, err = Write(dir, n)
	if err != nil {
		return "", "", err
	}
	made[n], names[n] = dir, source
	return dir, source, nil
}

// RemoveAll deletes every series Series wrote.
func RemoveAll() {
	mu.Lock()
	defer mu.Unlock()
	if root != "" {
		os.RemoveAll(root)
	}
	root, made, names = "", map[int]string{}, map[int]string{}
}

// Main is the TestMain of a package whose tests or benchmarks write
// thin-slice series: it runs them, then deletes what Series wrote.
func Main(m *testing.M) {
	code := m.Run()
	RemoveAll()
	os.Exit(code)
}
