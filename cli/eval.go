package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/refmask"
)

func init() {
	Register(Command{
		Name:  "eval",
		Usage: "--ref REF [--model NAME]... [--json] [--no-edge] [--models DIR] [--threads N] [--series UID] PATH   segment a CT with each model (default: all) and compare with a reference liver mask (NIfTI, DICOM SEG or DICOM series, resampled onto the CT as in the app): Dice, HD95, volumes, time",
		Run:   runEval,
	})
}

// evalModel is one row of `liverseg eval --json` (field names are the
// stable interface for scripts). HD95MM and ASSDMM are null when either
// mask is empty.
type evalModel struct {
	Name        string   `json:"name"`
	Role        string   `json:"role,omitempty"`
	Dice        float64  `json:"dice"`
	IoU         float64  `json:"iou"`
	HD95MM      *float64 `json:"hd95_mm"`
	ASSDMM      *float64 `json:"assd_mm"`
	VolumeML    float64  `json:"volume_ml"`
	RefVolumeML float64  `json:"ref_volume_ml"`
	Params      int64    `json:"params"`
	InferMS     float64  `json:"infer_ms"` // the network alone
	TotalMS     float64  `json:"total_ms"` // preprocessing + network + postprocessing
}

type evalReport struct {
	Input string `json:"input"`
	Ref   string `json:"ref"`
	// RefNotes say what was done to put the reference on the input's grid
	// (resampled, which SEG segment), as the app shows them.
	RefNotes []string    `json:"ref_notes,omitempty"`
	Models   []evalModel `json:"models"`
	// GeometryAssumed lists what the input's geometry rests on that its
	// files do not validly state: volumes and distances depend on it.
	GeometryAssumed []string `json:"geometry_assumed,omitempty"`
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("eval", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	ref := fset.String("ref", "", "reference liver mask: NIfTI (any non-zero label counts as liver), DICOM SEG (its liver segment) or a DICOM series of labels; resampled when on another grid of the CT's patient space")
	var models stringList
	fset.Var(&models, "model", "model to evaluate (repeatable; default: every model in the folder)")
	asJSON := fset.Bool("json", false, "print JSON instead of a table")
	series := addSeriesFlag(fset)
	mf := addModelFlags(fset)
	path, err := parseOnePath(fset, args)
	if err != nil {
		return err
	}
	switch {
	case *ref == "":
		return &UsageError{Msg: "--ref is required"}
	}
	reg, err := mf.openRegistry()
	if err != nil {
		return err
	}
	defer reg.Close()
	if len(models) == 0 {
		for _, c := range reg.Cards() {
			models = append(models, c.Name)
		}
		if len(models) == 0 {
			return fmt.Errorf("the models folder %s holds no model cards", reg.Dir())
		}
	}
	for _, m := range models {
		if _, err := reg.Lookup(m); err != nil {
			return err
		}
	}
	v, err := openInput(ctx, path, *series, "eval", stderr)
	if err != nil {
		return err
	}
	for _, w := range v.Info.Warnings {
		fmt.Fprintf(stderr, "liverseg eval: warning: %s\n", w)
	}
	// The reference is read as the app reads it, so eval's Dice is the
	// one the app shows for the same files.
	rr, err := refmask.Read(ctx, *ref, v, v.Geometry)
	if err != nil {
		return err
	}
	for _, n := range rr.Notes {
		fmt.Fprintf(stderr, "liverseg eval: %s: %s\n", *ref, n)
	}
	refMask := rr.Mask

	rep := evalReport{Input: path, Ref: *ref, RefNotes: rr.Notes, GeometryAssumed: v.Info.Assumed}
	for _, name := range models {
		card, _ := reg.Lookup(name)
		opts := mf.options(card)
		if !*asJSON {
			opts.Progress = stageReporter(stderr, "eval", name)
		}
		res, err := reg.Run(ctx, v, name, opts)
		if err != nil {
			return err
		}
		m, err := metrics.Compare(res.Mask, refMask)
		if err != nil {
			return err
		}
		row := evalModel{
			Name: name, Role: card.Role, Dice: m.Dice, IoU: m.IoU,
			VolumeML: m.VolumeML, RefVolumeML: m.RefVolumeML, Params: card.Params,
			InferMS: ms(res.Timings.Infer), TotalMS: ms(res.Timings.Total),
		}
		if m.SurfaceOK {
			row.HD95MM, row.ASSDMM = &m.HD95MM, &m.ASSDMM
		}
		rep.Models = append(rep.Models, row)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "%s vs %s (reference %.1f mL)\n", path, *ref, rep.Models[0].RefVolumeML)
	if note := v.Info.AssumedNote(); note != "" {
		fmt.Fprintf(stdout, "volumes and distances are %s\n", note)
	}
	fmt.Fprintf(stdout, "%-12s %7s %9s %9s %11s %10s %10s %10s\n", "model", "Dice", "HD95 mm", "ASSD mm", "volume mL", "params", "infer ms", "total ms")
	for _, r := range rep.Models {
		fmt.Fprintf(stdout, "%-12s %7.4f %9s %9s %11.1f %10d %10.0f %10.0f\n",
			r.Name, r.Dice, optMM(r.HD95MM), optMM(r.ASSDMM), r.VolumeML, r.Params, r.InferMS, r.TotalMS)
	}
	return nil
}

// optMM prints a distance, or "n/a" when it is undefined (an empty mask).
func optMM(p *float64) string {
	if p == nil || math.IsNaN(*p) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", *p)
}
