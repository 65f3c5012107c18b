package nifti

import (
	"fmt"
	"math"
	"testing"
)

// TestQuaternionRoundTrip converts rotations (every axis family, angles up
// to and including 180°, both handednesses) to the float32 quaternion the
// writer stores and back, as a qform reader would.
func TestQuaternionRoundTrip(t *testing.T) {
	axes := [][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}, {1, -2, 3}, {-0.3, 0.1, 5}}
	angles := []float64{0, 1e-3, 30, 90, 135, 179, 179.99, 180}
	for _, ax := range axes {
		for _, deg := range angles {
			for _, qfac := range []float64{1, -1} {
				t.Run(fmt.Sprintf("%v/%v°/qfac%v", ax, deg, qfac), func(t *testing.T) {
					r := rot(ax, deg)
					var m [4][4]float64
					sp := [3]float64{0.5, 0.75, 3}
					for row := 0; row < 3; row++ {
						for c := 0; c < 3; c++ {
							m[row][c] = r[row][c] * sp[c]
						}
						m[row][2] *= qfac
					}
					m[0][3], m[1][3], m[2][3], m[3][3] = 10, -20, 30, 1
					q := matToQuatern(m)
					if q.qfac != qfac {
						t.Fatalf("qfac %v, want %v", q.qfac, qfac)
					}
					b, c, d := float32Quaternion(q.b, q.c, q.d)
					got := quaternToMat(float64(b), float64(c), float64(d), q.qx, q.qy, q.qz,
						float64(float32(q.dx)), float64(float32(q.dy)), float64(float32(q.dz)), q.qfac)
					// float32 b, c, d resolve a only to ~6e-8/a: 7e-6 at 179°;
					// 179.99° is the worst case: a ≈ 9e-5 is below what
					// float32 b, c, d can resolve.
					tol := 1e-4
					if deg == 179.99 {
						tol = 1e-3
					}
					assertAffine(t, "quaternion", got, m, tol)
				})
			}
		}
	}
}

// TestPolarOfShear: the qform of a sheared (gantry-tilt) matrix is the
// nearest rotation, which is orthonormal.
func TestPolarOfShear(t *testing.T) {
	tilt := 20 * math.Pi / 180
	a := [3][3]float64{{1, 0, 0}, {0, 1, math.Sin(tilt)}, {0, 0, math.Cos(tilt)}}
	q := polar3(a)
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			dot := 0.0
			for k := 0; k < 3; k++ {
				dot += q[k][i] * q[k][j]
			}
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(dot-want) > 1e-5 {
				t.Fatalf("polar factor not orthonormal: columns %d·%d = %v", i, j, dot)
			}
		}
	}
	// Singular input must not loop forever or return NaN.
	z := polar3([3][3]float64{})
	for _, row := range z {
		for _, x := range row {
			if math.IsNaN(x) {
				t.Fatal("polar3 of a zero matrix returned NaN")
			}
		}
	}
}
