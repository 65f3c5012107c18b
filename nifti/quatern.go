package nifti

import "math"

// The functions in this file follow nifti1_io.c (the NIfTI reference
// library), so that LiverSeg derives the same qform matrix from a header as
// FSL, ITK and nibabel do, and writes quaternions they decode to the same
// matrix.

// quaternToMat builds the RAS index→world matrix of a qform: rotation from
// the quaternion (b, c, d; a is implied), column scaling by the voxel sizes,
// the third column negated when qfac < 0 (a left-handed grid), and the offset.
// As in nifti_quatern_to_mat44, non-positive voxel sizes count as 1.
func quaternToMat(b, c, d, qx, qy, qz, dx, dy, dz, qfac float64) [4][4]float64 {
	a := 1 - (b*b + c*c + d*d)
	if a < 1e-7 {
		// |(b,c,d)| ≥ 1: treat it as a 180° rotation about (b,c,d).
		n := 1 / math.Sqrt(b*b+c*c+d*d)
		b, c, d, a = b*n, c*n, d*n, 0
	} else {
		a = math.Sqrt(a)
	}
	xd, yd, zd := dx, dy, dz
	if !(xd > 0) {
		xd = 1
	}
	if !(yd > 0) {
		yd = 1
	}
	if !(zd > 0) {
		zd = 1
	}
	if qfac < 0 {
		zd = -zd
	}
	var m [4][4]float64
	m[0][0] = (a*a + b*b - c*c - d*d) * xd
	m[0][1] = 2 * (b*c - a*d) * yd
	m[0][2] = 2 * (b*d + a*c) * zd
	m[1][0] = 2 * (b*c + a*d) * xd
	m[1][1] = (a*a + c*c - b*b - d*d) * yd
	m[1][2] = 2 * (c*d - a*b) * zd
	m[2][0] = 2 * (b*d - a*c) * xd
	m[2][1] = 2 * (c*d + a*b) * yd
	m[2][2] = (a*a + d*d - c*c - b*b) * zd
	m[0][3], m[1][3], m[2][3] = qx, qy, qz
	m[3][3] = 1
	return m
}

// quatern is a qform: quaternion (b, c, d), offset, voxel sizes and qfac.
type quatern struct {
	b, c, d    float64
	qx, qy, qz float64
	dx, dy, dz float64
	qfac       float64
}

// matToQuatern is nifti_mat44_to_quatern: it finds the qform closest to an
// affine. Voxel sizes are the column lengths; the rotation is the orthogonal
// matrix nearest the normalised columns (polar decomposition), so a sheared
// affine (uncorrected gantry tilt) still yields a valid, nearest qform while
// the sform keeps the exact matrix.
func matToQuatern(m [4][4]float64) quatern {
	q := quatern{qx: m[0][3], qy: m[1][3], qz: m[2][3]}
	var r [3][3]float64
	var size [3]float64
	for c := 0; c < 3; c++ {
		n := math.Sqrt(m[0][c]*m[0][c] + m[1][c]*m[1][c] + m[2][c]*m[2][c])
		if n == 0 {
			// A zero column cannot be normalised; use the unit axis as the
			// reference library does.
			r[c][c] = 1
			n = 1
		} else {
			for row := 0; row < 3; row++ {
				r[row][c] = m[row][c] / n
			}
		}
		size[c] = n
	}
	q.dx, q.dy, q.dz = size[0], size[1], size[2]
	r = polar3(r)
	q.qfac = 1
	if det3(r) <= 0 {
		q.qfac = -1
		r[0][2], r[1][2], r[2][2] = -r[0][2], -r[1][2], -r[2][2]
	}
	r11, r12, r13 := r[0][0], r[0][1], r[0][2]
	r21, r22, r23 := r[1][0], r[1][1], r[1][2]
	r31, r32, r33 := r[2][0], r[2][1], r[2][2]
	var a, b, c, d float64
	a = r11 + r22 + r33 + 1
	if a > 0.5 {
		a = 0.5 * math.Sqrt(a)
		b = 0.25 * (r32 - r23) / a
		c = 0.25 * (r13 - r31) / a
		d = 0.25 * (r21 - r12) / a
	} else {
		xd := 1 + r11 - (r22 + r33)
		yd := 1 + r22 - (r11 + r33)
		zd := 1 + r33 - (r11 + r22)
		switch {
		case xd > 1:
			b = 0.5 * math.Sqrt(xd)
			c = 0.25 * (r12 + r21) / b
			d = 0.25 * (r13 + r31) / b
			a = 0.25 * (r32 - r23) / b
		case yd > 1:
			c = 0.5 * math.Sqrt(yd)
			b = 0.25 * (r12 + r21) / c
			d = 0.25 * (r23 + r32) / c
			a = 0.25 * (r13 - r31) / c
		default:
			d = 0.5 * math.Sqrt(zd)
			b = 0.25 * (r13 + r31) / d
			c = 0.25 * (r23 + r32) / d
			a = 0.25 * (r21 - r12) / d
		}
		// Keep a ≥ 0: the file stores only b, c, d and implies a's sign.
		if a < 0 {
			b, c, d = -b, -c, -d
		}
	}
	q.b, q.c, q.d = b, c, d
	return q
}

func det3(m [3][3]float64) float64 {
	return m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
}

func inv3(m [3][3]float64) [3][3]float64 {
	det := det3(m)
	var r [3][3]float64
	r[0][0] = (m[1][1]*m[2][2] - m[1][2]*m[2][1]) / det
	r[0][1] = (m[0][2]*m[2][1] - m[0][1]*m[2][2]) / det
	r[0][2] = (m[0][1]*m[1][2] - m[0][2]*m[1][1]) / det
	r[1][0] = (m[1][2]*m[2][0] - m[1][0]*m[2][2]) / det
	r[1][1] = (m[0][0]*m[2][2] - m[0][2]*m[2][0]) / det
	r[1][2] = (m[0][2]*m[1][0] - m[0][0]*m[1][2]) / det
	r[2][0] = (m[1][0]*m[2][1] - m[1][1]*m[2][0]) / det
	r[2][1] = (m[0][1]*m[2][0] - m[0][0]*m[2][1]) / det
	r[2][2] = (m[0][0]*m[1][1] - m[0][1]*m[1][0]) / det
	return r
}

// rowNorm and colNorm are the max-abs-row-sum and max-abs-column-sum norms.
func rowNorm(m [3][3]float64) float64 {
	best := 0.0
	for r := 0; r < 3; r++ {
		best = math.Max(best, math.Abs(m[r][0])+math.Abs(m[r][1])+math.Abs(m[r][2]))
	}
	return best
}

func colNorm(m [3][3]float64) float64 {
	best := 0.0
	for c := 0; c < 3; c++ {
		best = math.Max(best, math.Abs(m[0][c])+math.Abs(m[1][c])+math.Abs(m[2][c]))
	}
	return best
}

// polar3 returns the orthogonal factor of the polar decomposition of a, by
// the scaled Newton iteration of nifti_mat33_polar.
func polar3(a [3][3]float64) [3][3]float64 {
	x := a
	gam := det3(x)
	for n := 0; gam == 0 && n < 100; n++ {
		// Singular: nudge the diagonal until it is not.
		gam = 0.00001 * (0.001 + rowNorm(x))
		x[0][0] += gam
		x[1][1] += gam
		x[2][2] += gam
		gam = det3(x)
	}
	dif := 1.0
	var z [3][3]float64
	for k := 0; ; k++ {
		y := inv3(x)
		g, gi := 1.0, 1.0
		if dif > 0.3 {
			alp := math.Sqrt(rowNorm(x) * colNorm(x))
			bet := math.Sqrt(rowNorm(y) * colNorm(y))
			g = math.Sqrt(bet / alp)
			gi = 1 / g
		}
		dif = 0
		for r := 0; r < 3; r++ {
			for c := 0; c < 3; c++ {
				z[r][c] = 0.5 * (g*x[r][c] + gi*y[c][r])
				dif += math.Abs(z[r][c] - x[r][c])
			}
		}
		if k > 100 || dif < 3e-6 || math.IsNaN(dif) {
			break
		}
		x = z
	}
	return z
}
