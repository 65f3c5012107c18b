// Package testct gives tests an abdominal CT with a known liver, so that
// the tests which need one run on every machine: the real CHAOS case
// chaos_ct01 from ../shared/data when that folder is present, otherwise
// LiverSeg's synthetic phantom (package phantom, seed 1), generated once
// into the user's cache folder (as the application's demo study is) and
// reused afterwards.
//
// It is a separate package from internal/shareddata because it imports
// package phantom, which imports dicomio: dicomio's own tests use
// shareddata and would otherwise form an import cycle.
package testct

import (
	"path/filepath"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/phantom"
)

// PhantomSeed is the phantom used when the real data set is absent: the
// same study the application opens with no arguments.
const PhantomSeed = 1

// Study is one CT with its reference liver mask.
type Study struct {
	// Name is "chaos_ct01" or "phantom seed 1".
	Name string
	// Real is true for the real case from ../shared/data.
	Real bool
	// DICOM is the folder of the CT series.
	DICOM string
	// CT is the CT as any loader takes it: the NIfTI file of the real case,
	// the DICOM folder of the phantom (which has no NIfTI CT).
	CT string
	// Liver is the reference liver mask (NIfTI, on the CT's grid).
	Liver string
	// Size is the CT's grid size (i, j, k).
	Size [3]int
}

// Abdomen returns the real chaos_ct01 case when ../shared/data is present,
// else the synthetic phantom (generated on first use: a few seconds).
func Abdomen(tb testing.TB) Study {
	tb.Helper()
	if shareddata.Root() != "" {
		c := func(name string) string { return shareddata.Path(tb, "cases", "chaos_ct01", name) }
		return Study{Name: "chaos_ct01", Real: true, DICOM: c("dicom"), CT: c("ct.nii.gz"), Liver: c("liver.nii.gz"), Size: [3]int{512, 512, 78}}
	}
	return Phantom(tb)
}

// Phantom returns the synthetic phantom study (seed PhantomSeed) on every
// machine, generating it into the user's cache folder on first use.
func Phantom(tb testing.TB) Study {
	tb.Helper()
	dir, err := phantom.Cached(PhantomSeed)
	if err != nil {
		tb.Fatalf("synthetic phantom: %v", err)
	}
	dicom := filepath.Join(dir, phantom.DICOMDir)
	return Study{Name: "phantom seed 1", DICOM: dicom, CT: dicom, Liver: filepath.Join(dir, phantom.LiverMaskFile), Size: phantom.DefaultSize}
}
