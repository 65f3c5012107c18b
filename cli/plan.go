package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/liverseg/liverseg/resection"
	"github.com/liverseg/liverseg/volume"
)

func init() {
	Register(Command{
		Name: "plan",
		Usage: "[--model NAME | --mask MASK] (--plane PX,PY,PZ,NX,NY,NZ | --plan PLAN.json) [--lesion MASK] [--height-cm H --weight-kg W] [--min-flr 20|25|30|40] [--json] PATH   " +
			"resection volumetry: total, resected and remnant liver volume (mL), FLR % (lesion excluded), with height and weight BSA (Mosteller), SLV (Vauthey) and FLR % of it. " +
			"A plane is a point and a normal in patient LPS mm (x Left, y Posterior, z Superior); the normal points into the resected part, the remnant is the side it points away from",
		Run: runPlan,
	})
}

// planReport is `liverseg plan --json` (stable field names for scripts).
type planReport struct {
	Input       string            `json:"input"`
	Mask        string            `json:"mask"`
	Coordinates string            `json:"coordinates"`
	Convention  string            `json:"convention"`
	Cuts        []planCut         `json:"cuts"`
	Combine     resection.Combine `json:"combine"`
	Volumes     resection.Volumes `json:"volumes"`
	MinFLR      float64           `json:"min_flr_percent"`
	FLROK       bool              `json:"flr_at_or_above_min"`
	Body        *resection.Body   `json:"body,omitempty"`
	BSAFormula  string            `json:"bsa_formula,omitempty"`
	SLVFormula  string            `json:"slv_formula,omitempty"`
	Margin      *resection.Margin `json:"margin,omitempty"`
	Warnings    []string          `json:"warnings,omitempty"`
}

type planCut struct {
	Name   string        `json:"name,omitempty"`
	Point  resection.Vec `json:"point_lps_mm"`
	Normal resection.Vec `json:"normal_lps"`
	Flat   bool          `json:"flat"`
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("plan", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	plane := fset.String("plane", "", "cutting plane PX,PY,PZ,NX,NY,NZ: a point and a normal in LPS mm; the normal points into the resected part")
	planPath := fset.String("plan", "", "a plan saved by the app (JSON)")
	lesion := fset.String("lesion", "", "lesion mask of the study (NIfTI, DICOM SEG or DICOM series; resampled when on another grid): excluded from the FLR, margin measured to it")
	height := fset.Float64("height-cm", 0, "patient height (cm), with --weight-kg for BSA/SLV")
	weight := fset.Float64("weight-kg", 0, "patient weight (kg)")
	minFLR := fset.Float64("min-flr", resection.DefaultThreshold, "minimum FLR % to compare with: 20 or 25 (normal liver), 30 (after chemotherapy), 40 (cirrhosis)")
	asJSON := fset.Bool("json", false, "print JSON")
	lf := addLiverFlags(fset)
	path, err := parseOnePath(fset, args)
	if err != nil {
		return err
	}
	switch {
	case (*plane == "") == (*planPath == ""):
		return &UsageError{Msg: "give exactly one of --plane and --plan"}
	case (*height == 0) != (*weight == 0):
		return &UsageError{Msg: "give both --height-cm and --weight-kg, or neither"}
	case !(*minFLR > 0 && *minFLR < 100):
		return &UsageError{Msg: fmt.Sprintf("--min-flr %g: must be a percentage between 0 and 100", *minFLR)}
	}
	if err := lf.check(); err != nil {
		return err
	}
	if *height != 0 {
		if _, err := resection.BSAMosteller(*height, *weight); err != nil {
			return &UsageError{Msg: err.Error()}
		}
	}
	var plan resection.Plan
	var file *resection.File
	if *plane != "" {
		c, err := parsePlane(*plane)
		if err != nil {
			return &UsageError{Msg: "--plane " + *plane + ": " + err.Error()}
		}
		plan = resection.Plan{Cuts: []resection.Cut{c}, Combine: resection.Any}
	} else {
		f, p, err := resection.Load(*planPath)
		if err != nil {
			return err
		}
		plan, file = p, &f
	}
	v, liver, src, err := lf.load(ctx, "plan", path, stderr)
	if err != nil {
		return err
	}
	rep := planReport{Input: path, Mask: src, Combine: plan.Combine, MinFLR: *minFLR,
		Coordinates: "DICOM patient LPS (x Left, y Posterior, z Superior), mm",
		Convention:  "the normal points into the resected part; the remnant is the side it points away from"}
	if rep.Combine == "" {
		rep.Combine = resection.Any
	}
	if file != nil {
		warns, err := file.CheckStudy(v.Info, resection.MaskChecksum(liver))
		if err != nil {
			return fmt.Errorf("plan %s: %w", *planPath, err)
		}
		rep.Warnings = append(rep.Warnings, warns...)
	}
	var les *volume.Mask
	if *lesion != "" {
		if les, err = readMask(ctx, "plan", *lesion, v, stderr); err != nil {
			return err
		}
	}
	l, err := resection.NewLiver(liver, les)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	vols, err := l.Evaluate(plan)
	if err != nil {
		return err
	}
	rep.Volumes = vols
	rep.FLROK, _ = resection.Verdict(vols.FLRPercent, *minFLR)
	for _, c := range plan.Cuts {
		rep.Cuts = append(rep.Cuts, planCut{Name: c.Name, Point: c.Origin, Normal: c.Normal, Flat: c.Flat()})
	}
	if *height != 0 {
		b, _ := resection.BodyFigures(*height, *weight, vols.RemnantML)
		rep.Body = &b
		rep.BSAFormula, rep.SLVFormula = resection.BSAFormula, resection.SLVFormula
	}
	if m, ok := l.Margin(plan, vols); ok {
		rep.Margin = &m
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(stderr, "liverseg plan: warning: %s\n", w)
	}
	if *asJSON {
		if rep.Margin != nil && math.IsInf(rep.Margin.MinMM, 1) {
			rep.Margin.MinMM = -1 // JSON has no infinity: no surface inside the liver
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printPlan(stdout, rep)
	return nil
}

func printPlan(w io.Writer, r planReport) {
	fmt.Fprintf(w, "%s, liver from %s\n", r.Input, r.Mask)
	for n, c := range r.Cuts {
		kind := "plane"
		if !c.Flat {
			kind = "bent surface, base plane"
		}
		name := ""
		if c.Name != "" {
			name = " (" + c.Name + ")"
		}
		fmt.Fprintf(w, "cut %d%s: %s through (%.1f, %.1f, %.1f) mm, normal (%.3f, %.3f, %.3f) LPS, pointing into the resected part\n",
			n+1, name, kind, c.Point[0], c.Point[1], c.Point[2], c.Normal[0], c.Normal[1], c.Normal[2])
	}
	v := r.Volumes
	fmt.Fprintf(w, "total liver     %8.1f mL\n", v.TotalML)
	if v.LesionML > 0 {
		fmt.Fprintf(w, "lesion          %8.1f mL (%.1f mL of it resected; excluded below)\n", v.LesionML, v.LesionResectedML)
	}
	fmt.Fprintf(w, "resected        %8.1f mL\n", v.ResectedML)
	fmt.Fprintf(w, "remnant (FLR)   %8.1f mL\n", v.RemnantML)
	_, verdict := resection.Verdict(v.FLRPercent, r.MinFLR)
	fmt.Fprintf(w, "FLR             %8.1f %% of the total liver volume: %s\n", v.FLRPercent, verdict)
	if b := r.Body; b != nil {
		fmt.Fprintf(w, "BSA             %8.2f m²  (%s; %.0f cm, %.0f kg)\n", b.BSA, resection.BSAFormula, b.HeightCM, b.WeightKG)
		fmt.Fprintf(w, "SLV             %8.1f mL  (%s)\n", b.SLVML, resection.SLVFormula)
		_, vs := resection.Verdict(b.FLRSLVPercent, r.MinFLR)
		fmt.Fprintf(w, "FLR / SLV       %8.1f %%: %s\n", b.FLRSLVPercent, vs)
	}
	if m := r.Margin; m != nil {
		switch {
		case m.Crosses:
			fmt.Fprintf(w, "margin          the cut runs through the lesion (0 mm)\n")
		case math.IsInf(m.MinMM, 1):
			fmt.Fprintf(w, "margin          no cutting surface runs through the liver\n")
		default:
			fmt.Fprintf(w, "margin          %8.1f mm from cut %d to the lesion, at (%.1f, %.1f, %.1f) mm\n", m.MinMM, m.Cut+1, m.At[0], m.At[1], m.At[2])
		}
		if m.InRemnant {
			fmt.Fprintf(w, "warning: the lesion lies wholly in the remnant: this plan does not remove it\n")
		}
	}
}

// parsePlane reads "PX,PY,PZ,NX,NY,NZ".
func parsePlane(s string) (resection.Cut, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 6 {
		return resection.Cut{}, fmt.Errorf("want six comma-separated numbers (point x,y,z and normal x,y,z in LPS mm), got %d", len(parts))
	}
	var x [6]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return resection.Cut{}, fmt.Errorf("%q is not a finite number", p)
		}
		x[i] = f
	}
	return resection.NewPlane(resection.Vec{x[0], x[1], x[2]}, resection.Vec{x[3], x[4], x[5]})
}
