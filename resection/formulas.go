package resection

import (
	"fmt"
	"math"
)

// Formula names, as the UI, the CLI and the report state them.
const (
	BSAFormula = "Mosteller: BSA (m²) = √(height cm × weight kg / 3600)"
	SLVFormula = "Vauthey: SLV (mL) = −794.41 + 1267.28 × BSA (m²)"
)

// BSAMosteller is the body surface area (m²) by Mosteller's formula (N Engl
// J Med 1987;317:1098).
func BSAMosteller(heightCM, weightKG float64) (float64, error) {
	if !(heightCM >= 30 && heightCM <= 272) {
		return 0, fmt.Errorf("height %g cm is outside 30–272 cm", heightCM)
	}
	if !(weightKG >= 2 && weightKG <= 650) {
		return 0, fmt.Errorf("weight %g kg is outside 2–650 kg", weightKG)
	}
	return math.Sqrt(heightCM * weightKG / 3600), nil
}

// SLVVauthey is the standardized (expected total) liver volume in mL from
// the body surface area (Vauthey et al., Liver Transpl 2002;8:233).
func SLVVauthey(bsa float64) float64 { return -794.41 + 1267.28*bsa }

// Threshold is a published minimum future liver remnant.
type Threshold struct {
	Percent float64
	Liver   string // the liver it applies to
}

// Thresholds are the usual minimum FLR before major hepatectomy (FLR as a
// share of total or standardized liver volume; Vauthey, Surgery
// 2000;127:512; Shindoh; Kubota; review: J Surg Oncol 2019;119:594,
// Table 1).
var Thresholds = []Threshold{
	{20, "normal liver"},
	{25, "normal liver, conservative"},
	{30, "after chemotherapy (> 3 months)"},
	{40, "cirrhosis or fibrosis"},
}

// DefaultThreshold is the minimum FLR selected unless the user picks
// another.
const DefaultThreshold = 25.0

// Body is the standardized-liver-volume part of a plan's figures.
type Body struct {
	HeightCM      float64 `json:"height_cm"`
	WeightKG      float64 `json:"weight_kg"`
	BSA           float64 `json:"bsa_m2"`
	SLVML         float64 `json:"slv_ml"`
	FLRSLVPercent float64 `json:"flr_of_slv_percent"`
}

// BodyFigures computes BSA, SLV and the remnant as a share of the SLV.
func BodyFigures(heightCM, weightKG, remnantML float64) (Body, error) {
	bsa, err := BSAMosteller(heightCM, weightKG)
	if err != nil {
		return Body{}, err
	}
	slv := SLVVauthey(bsa)
	b := Body{HeightCM: heightCM, WeightKG: weightKG, BSA: bsa, SLVML: slv}
	if slv > 0 {
		b.FLRSLVPercent = 100 * remnantML / slv
	}
	return b, nil
}

// Verdict says how an FLR compares with the minimum: "above the 25 %
// minimum (normal liver)" or "BELOW ...".
func Verdict(flrPercent, minPercent float64) (ok bool, text string) {
	what := ""
	for _, t := range Thresholds {
		if t.Percent == minPercent {
			what = " (" + t.Liver + ")"
		}
	}
	if flrPercent >= minPercent {
		return true, fmt.Sprintf("%.1f %% ≥ the %.0f %% minimum%s", flrPercent, minPercent, what)
	}
	return false, fmt.Sprintf("%.1f %% is BELOW the %.0f %% minimum%s", flrPercent, minPercent, what)
}
