package phantom

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/internal/atomicfile"
	"github.com/liverseg/liverseg/nifti"
)

// Layout of a written phantom study folder.
const (
	// DICOMDir is the sub-folder holding the CT series, one file per slice.
	DICOMDir = "dicom"
	// LiverMaskFile is the ground-truth liver mask (NIfTI-1, uint8 0/1) on
	// the CT's grid.
	LiverMaskFile = "liver.nii.gz"
	// ReadmeFile says what the folder is.
	ReadmeFile = "README.txt"
)

// SeriesOptions are the DICOM settings of a phantom's series: UIDs derived
// from the seed (so the same seed writes byte-identical files), image type
// ORIGINAL\PRIMARY\AXIAL, a note in ImageComments and SeriesDescription
// that the images are synthetic, and a soft-tissue default window.
func SeriesOptions(p *Phantom) dicomio.SeriesOptions {
	info := p.CT.Info
	return dicomio.SeriesOptions{
		StudyInstanceUID:    info.StudyInstanceUID,
		SeriesInstanceUID:   info.SeriesInstanceUID,
		FrameOfReferenceUID: info.FrameOfReference,
		SOPInstanceUIDs:     info.SOPInstanceUIDs,
		StudyTime:           StudyTime,
		StudyID:             "PHANTOM",
		BodyPartExamined:    "ABDOMEN",
		Manufacturer:        "LiverSeg (synthetic phantom)",
		ImageType:           []string{"ORIGINAL", "PRIMARY", "AXIAL"},
		ImageComments:       ImageComments,
		WindowCenter:        40,
		WindowWidth:         400,
		SeriesNumber:        1,
	}
}

// WriteStudy writes p into dir: the CT series in dir/dicom (one CT Image
// Storage file per slice, signed 16-bit HU, explicit VR little endian), the
// liver mask as dir/liver.nii.gz and a README.txt. dir must not exist or be
// empty. Everything is written into a temporary sibling folder that is
// renamed to dir at the end, so dir is either complete or absent.
func WriteStudy(dir string, p *Phantom) error {
	if p == nil || p.CT == nil || p.Liver == nil {
		return errors.New("phantom: write study: no phantom")
	}
	dir = filepath.Clean(dir)
	if err := checkEmptyDir(dir); err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("phantom: write %s: %w", dir, err)
	}
	// The folder is locked while it is filled: a writer killed meanwhile
	// leaves a folder the next write of dir removes.
	td, err := atomicfile.NewTempDir(dir)
	if err != nil {
		return fmt.Errorf("phantom: write %s: %w", dir, err)
	}
	defer td.Close()
	tmp := td.Path

	if err := dicomio.WriteSeries(filepath.Join(tmp, DICOMDir), p.CT, SeriesOptions(p)); err != nil {
		return fmt.Errorf("phantom: write %s: %w", dir, err)
	}
	if err := nifti.WriteMask(filepath.Join(tmp, LiverMaskFile), p.Liver); err != nil {
		return fmt.Errorf("phantom: write %s: %w", dir, err)
	}
	readme := fmt.Sprintf(`LiverSeg synthetic abdominal CT phantom (seed %d, generator version %d)

This is NOT patient data. Every voxel was computed from the seed by LiverSeg's
phantom generator; the same seed always gives byte-identical files.

%s/        CT series, %d axial slices of %dx%d pixels, %g x %g x %g mm,
              CT Image Storage, explicit VR little endian, signed 16-bit
              Hounsfield units (RescaleSlope 1, RescaleIntercept 0)
%s  exact liver mask (1 = liver, 0 = other), NIfTI-1 on the same grid
Liver volume: %.0f mL
`, p.Seed, Version, DICOMDir, p.CT.Size[2], p.CT.Size[0], p.CT.Size[1],
		p.CT.Spacing[0], p.CT.Spacing[1], p.CT.Spacing[2], LiverMaskFile, p.LiverVolumeML())
	if err := os.WriteFile(filepath.Join(tmp, ReadmeFile), []byte(readme), 0o644); err != nil {
		return fmt.Errorf("phantom: write %s: %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("phantom: write %s: %w", dir, err)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("phantom: write %s: %w", dir, err)
	}
	if err := td.Rename(dir); err != nil {
		return fmt.Errorf("phantom: write %s: %w", dir, err)
	}
	return nil
}

func checkEmptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("phantom: write %s: %w", dir, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("phantom: write %s: folder exists and is not empty; choose a new folder", dir)
	}
	return nil
}

// CacheDir is where Cached keeps seed's study:
// os.UserCacheDir()/liverseg/phantom-<seed>-v<Version>.
func CacheDir(seed uint64) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("phantom: no user cache folder: %w", err)
	}
	return filepath.Join(base, "liverseg", "phantom-"+strconv.FormatUint(seed, 10)+"-v"+strconv.Itoa(Version)), nil
}

// Cached returns the folder of seed's phantom study (see WriteStudy for its
// layout), generating it into the user's cache folder on first use and
// reusing it afterwards. Generation writes to a temporary folder renamed
// into place, so a crash or a second process starting at the same time
// never leaves or reads a half-written study.
func Cached(seed uint64) (string, error) {
	dir, err := CacheDir(seed)
	if err != nil {
		return "", err
	}
	return cachedIn(dir, func() *Phantom { return Generate(seed) })
}

func cachedIn(dir string, generate func() *Phantom) (string, error) {
	if studyComplete(dir) {
		return dir, nil
	}
	// A folder that exists but is not a complete study (damaged by hand,
	// say) is our own cache entry: replace it.
	if _, err := os.Stat(dir); err == nil {
		if err := os.RemoveAll(dir); err != nil {
			return "", fmt.Errorf("phantom: clear damaged cache %s: %w", dir, err)
		}
	}
	if err := WriteStudy(dir, generate()); err != nil {
		// Another process may have finished the same study first.
		if studyComplete(dir) {
			return dir, nil
		}
		return "", err
	}
	return dir, nil
}

// studyComplete reports whether dir holds a whole study: WriteStudy renames
// the folder into place only when every file is written, so the files'
// presence is enough.
func studyComplete(dir string) bool {
	if st, err := os.Stat(filepath.Join(dir, LiverMaskFile)); err != nil || !st.Mode().IsRegular() {
		return false
	}
	ents, err := os.ReadDir(filepath.Join(dir, DICOMDir))
	return err == nil && len(ents) > 0
}
