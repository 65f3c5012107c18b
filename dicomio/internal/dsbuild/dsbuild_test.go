package dsbuild

import (
	"math"
	"strconv"
	"testing"
)

func TestFormatDS(t *testing.T) {
	for _, x := range []float64{0, 1e-17, -0.5, 0.7265625, -123.456789012345678, 1234567890123.456, 1e-9, -2.5e-7} {
		s := FormatDS(x)
		if len(s) > 16 {
			t.Errorf("FormatDS(%v) = %q longer than 16", x, s)
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Abs(f-x) > 1e-9*math.Max(1, math.Abs(x)) {
			t.Errorf("FormatDS(%v) = %q parses to %v, %v", x, s, f, err)
		}
	}
}
