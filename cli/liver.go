package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// liverFlags are the flags of mesh and plan that choose the liver mask:
// a model's run on the study, or a mask file on the study's grid.
type liverFlags struct {
	model *string
	mask  *string
	mf    modelFlags
}

// defaultLiverModel is the model run when neither --model nor --mask is
// given: the one the app runs when a study opens.
const defaultLiverModel = "student"

func addLiverFlags(fset *flag.FlagSet) liverFlags {
	return liverFlags{
		model: fset.String("model", "", "segment the liver with this model (default: "+defaultLiverModel+" when no --mask is given)"),
		mask:  fset.String("mask", "", "liver mask on the study's grid: NIfTI (.nii/.nii.gz, any non-zero voxel) or DICOM SEG (.dcm)"),
		mf:    addModelFlags(fset),
	}
}

func (f liverFlags) check() error {
	if *f.model != "" && *f.mask != "" {
		return &UsageError{Msg: "give --model or --mask, not both"}
	}
	return nil
}

// load opens the study at path and returns it with the liver mask on its
// grid and a description of where the mask came from.
func (f liverFlags) load(ctx context.Context, cmd, path string, stderr io.Writer) (*volume.Volume, *volume.Mask, string, error) {
	if *f.mask != "" {
		if _, err := os.Stat(*f.mask); err != nil {
			return nil, nil, "", fmt.Errorf("cannot open mask %s: %w", *f.mask, unwrapPathError(err))
		}
	}
	v, _, err := openImage(ctx, path, nil)
	if err != nil {
		return nil, nil, "", err
	}
	for _, w := range v.Info.Warnings {
		fmt.Fprintf(stderr, "liverseg %s: warning: %s\n", cmd, w)
	}
	if *f.mask != "" {
		m, err := readMaskOnGrid(*f.mask, v)
		if err != nil {
			return nil, nil, "", err
		}
		return v, m, *f.mask, nil
	}
	model := *f.model
	if model == "" {
		model = defaultLiverModel
	}
	reg, err := f.mf.openRegistry()
	if err != nil {
		return nil, nil, "", err
	}
	defer reg.Close()
	card, err := reg.Lookup(model)
	if err != nil {
		return nil, nil, "", err
	}
	opts := card.DefaultOptions()
	opts.Progress = stageReporter(stderr, cmd, model)
	res, err := reg.Run(ctx, v, model, opts)
	if err != nil {
		return nil, nil, "", err
	}
	return v, res.Mask, fmt.Sprintf("model %s (sha256 %.12s, threshold %.2f)", card.Name, card.SHA256, res.Post.Threshold), nil
}

// readMaskOnGrid reads a NIfTI mask or a DICOM SEG and puts it on v's grid
// (the same voxels, in any index order); anything else is refused with the
// reason.
func readMaskOnGrid(path string, v *volume.Volume) (*volume.Mask, error) {
	if !nifti.IsNIfTI(path) && dicomseg.IsSEG(path) {
		seg, err := dicomseg.ReadSEG(path)
		if err != nil {
			return nil, err
		}
		if seg.FrameOfReference != "" && v.Info.FrameOfReference != "" && seg.FrameOfReference != v.Info.FrameOfReference {
			return nil, fmt.Errorf("mask %s: the DICOM SEG's frame of reference %s is not the study's %s", path, seg.FrameOfReference, v.Info.FrameOfReference)
		}
		m, err := seg.OnGrid(v.Geometry)
		if err != nil {
			return nil, fmt.Errorf("mask %s: %w", path, err)
		}
		return m, nil
	}
	if !nifti.IsNIfTI(path) {
		return nil, fmt.Errorf("mask %s: not a NIfTI file (.nii, .nii.gz) or a DICOM SEG", path)
	}
	m, err := nifti.ReadMask(path)
	if err != nil {
		return nil, err
	}
	on, err := onGrid(m, v.Geometry)
	if err != nil {
		return nil, fmt.Errorf("mask %s (size %v, spacing %.4g mm) is not on the study's grid (size %v, spacing %.4g mm)", path, m.Size, m.Spacing, v.Size, v.Spacing)
	}
	return on, nil
}

// checkOut refuses an output path that exists (unless force) or whose
// folder does not, before any time is spent.
func checkOut(out string, force bool) error {
	if st, err := os.Stat(out); err == nil {
		if st.IsDir() {
			return fmt.Errorf("%s is a folder; give a file name", out)
		}
		if !force {
			return fmt.Errorf("%s already exists; use --force to replace it", out)
		}
	}
	d := dirOf(out)
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		return fmt.Errorf("cannot write %s: folder %s does not exist", out, d)
	}
	return nil
}
