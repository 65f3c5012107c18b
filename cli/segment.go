package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/buildinfo"
	"github.com/liverseg/liverseg/nifti"
)

func init() {
	Register(Command{
		Name:  "segment",
		Usage: "--model NAME --out MASK.nii.gz|SEG.dcm [--format nifti|seg] [--threshold T] [--no-edge] [--models DIR] [--threads N] [--force] [--series UID] PATH   segment the liver in a CT (DICOM file/folder or NIfTI) and write the mask on the CT's own grid: NIfTI (uint8, 1 = liver) or DICOM SEG (DICOM input only)",
		Run:   runSegment,
	})
}

// modelFlags are the flags segment and eval share.
type modelFlags struct {
	models  *string
	threads *int
	noEdge  *bool
}

func addModelFlags(fset *flag.FlagSet) modelFlags {
	return modelFlags{
		models:  fset.String("models", "", "folder with the model cards (default: models/ beside the program or in the source tree)"),
		threads: fset.Int("threads", 0, "ONNX Runtime threads (default: all cores)"),
		noEdge:  fset.Bool("no-edge", false, "keep the network's own outline: no edge refinement from the scan's HU (as the app's Edge from scan switch, off)"),
	}
}

// options are the card's settings with the flags applied.
func (f modelFlags) options(card *inference.Card) inference.Options {
	o := card.DefaultOptions()
	if *f.noEdge {
		o.Edge = nil
	}
	return o
}

// openRegistry opens the models folder named by the flags or found by
// inference.FindModelsDir.
func (f modelFlags) openRegistry() (*inference.Registry, error) {
	dir := *f.models
	if dir == "" {
		d, err := inference.FindModelsDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if *f.threads < 0 {
		return nil, &UsageError{Msg: fmt.Sprintf("--threads %d: must be positive", *f.threads)}
	}
	return inference.OpenRegistry(dir, inference.RegistryOptions{Threads: *f.threads})
}

// stageReporter prints each stage of a run on one line of w.
func stageReporter(w io.Writer, cmd, model string) func(inference.Stage) {
	return func(s inference.Stage) {
		if s != inference.StageDone {
			fmt.Fprintf(w, "liverseg %s: %s: %s…\n", cmd, model, s)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func runSegment(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("segment", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	model := fset.String("model", "", "model name (a card in the models folder), e.g. student")
	out := fset.String("out", "", "output mask, .nii.gz or .nii (NIfTI) or .dcm (DICOM SEG)")
	format := fset.String("format", "", "nifti or seg (default: from the --out extension)")
	threshold := fset.Float64("threshold", 0, "liver probability threshold in (0,1) (default: the model card's, 0.5)")
	force := fset.Bool("force", false, "replace OUT if it exists")
	series := addSeriesFlag(fset)
	mf := addModelFlags(fset)
	path, err := parseOnePath(fset, args)
	if err != nil {
		return err
	}
	switch {
	case *model == "":
		return &UsageError{Msg: "--model is required"}
	case *out == "":
		return &UsageError{Msg: "--out is required"}
	case *format != "" && *format != "nifti" && *format != "seg":
		return &UsageError{Msg: fmt.Sprintf("--format %q: must be nifti or seg", *format)}
	case *threshold != 0 && !(*threshold > 0 && *threshold < 1):
		return &UsageError{Msg: fmt.Sprintf("--threshold %v: must be between 0 and 1", *threshold)}
	}
	if *format == "" {
		switch {
		case nifti.IsNIfTI(*out):
			*format = "nifti"
		case strings.EqualFold(filepath.Ext(*out), ".dcm"):
			*format = "seg"
		default:
			return &UsageError{Msg: fmt.Sprintf("%s: output name must end in .nii.gz or .nii (NIfTI) or .dcm (DICOM SEG), or give --format", *out)}
		}
	}
	if *format == "nifti" && !nifti.IsNIfTI(*out) {
		return &UsageError{Msg: fmt.Sprintf("%s: a NIfTI output name must end in .nii.gz or .nii", *out)}
	}
	// Refuse before spending time on loading and inference; the write
	// re-checks atomically.
	if err := checkOutputFile(*out, path, *force); err != nil {
		return err
	}
	reg, err := mf.openRegistry()
	if err != nil {
		return err
	}
	defer reg.Close()
	card, err := reg.Lookup(*model)
	if err != nil {
		return err
	}
	v, err := openInput(ctx, path, *series, "segment", stderr)
	if err != nil {
		return err
	}
	for _, w := range v.Info.Warnings {
		fmt.Fprintf(stderr, "liverseg segment: warning: %s\n", w)
	}
	if *format == "seg" && (v.Info.StudyInstanceUID == "" || v.Info.FrameOfReference == "") {
		return fmt.Errorf("%s: a DICOM SEG must reference a DICOM CT study (StudyInstanceUID and FrameOfReferenceUID); this input has none: write NIfTI instead", path)
	}
	opts := mf.options(card)
	if *threshold != 0 {
		opts.Threshold = *threshold
	}
	opts.Progress = stageReporter(stderr, "segment", *model)
	res, err := reg.Run(ctx, v, *model, opts)
	if err != nil {
		return err
	}
	if *format == "seg" {
		algo := fmt.Sprintf("LiverSeg %s %.8s", card.Name, card.SHA256)
		if opts.Edge != nil {
			algo += " + " + inference.EdgeTag
		}
		err = dicomseg.WriteSEG(*out, v, res.Mask, dicomseg.SEGOptions{
			AlgorithmName:    algo,
			SoftwareVersions: buildinfo.Software(),
			Overwrite:        *force,
			Context:          ctx,
		})
	} else {
		err = nifti.WriteMask(*out, res.Mask, nifti.WriteOptions{NoOverwrite: !*force, Context: ctx})
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; use --force to replace it", *out)
		}
		return err
	}
	t := res.Timings
	assumed := ""
	if len(v.Info.Assumed) > 0 {
		assumed = " [ON ASSUMED GEOMETRY, see below]"
	}
	fmt.Fprintf(stdout, "wrote %s: liver %.1f mL%s (%d voxels) on the %d × %d × %d input grid; model %s (%d parameters), threshold %.2f\n",
		*out, res.Mask.VolumeML(), assumed, res.Mask.Count(), v.Size[0], v.Size[1], v.Size[2], card.Name, card.Params, res.Post.Threshold)
	if note := v.Info.AssumedNote(); note != "" {
		fmt.Fprintf(stdout, "the liver volume is %s\n", note)
	}
	fmt.Fprintf(stdout, "time: load %.0f ms, preprocess %.0f ms, network %.0f ms, postprocess %.0f ms, total %.0f ms\n",
		ms(t.Load), ms(t.Preprocess), ms(t.Infer), ms(t.Postprocess), ms(t.Total))
	return nil
}
