package phantom

// Deterministic arithmetic. The phantom must come out bit-identical on every
// machine, so nothing here calls math's transcendental functions (Exp, Sin,
// Pow have assembly versions that may round differently per platform):
// only +, −, ×, ÷, Sqrt and Floor, which IEEE 754 defines exactly. Random
// numbers come from integer hashes and math/rand/v2's PCG, whose output is
// specified bit for bit.

import (
	"math"
	"math/rand/v2"
)

type vec3 [3]float64

func (a vec3) add(b vec3) vec3 { return vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func (a vec3) sub(b vec3) vec3 { return vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func (a vec3) scale(s float64) vec3 {
	return vec3{a[0] * s, a[1] * s, a[2] * s}
}
func (a vec3) dot(b vec3) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func (a vec3) norm() float64      { return math.Sqrt(a.dot(a)) }

func clamp(x, lo, hi float64) float64 {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

// smoothstep is 0 below e0, 1 above e1 and a cubic ramp between.
func smoothstep(e0, e1, x float64) float64 {
	t := clamp((x-e0)/(e1-e0), 0, 1)
	return t * t * (3 - 2*t)
}

// smin is a smooth minimum (polynomial, radius k): the union of two signed
// distance fields with a fillet of about k millimetres.
func smin(a, b, k float64) float64 {
	h := k - math.Abs(a-b)
	if h <= 0 {
		return math.Min(a, b)
	}
	h /= k
	return math.Min(a, b) - h*h*k*0.25
}

// smax is the smooth maximum (intersection / subtraction of fields).
func smax(a, b, k float64) float64 { return -smin(-a, -b, k) }

// expDet is e^x from a Taylor series after range reduction by 32: accurate
// to ~1e-13 relative for |x| ≤ 40, and identical on every platform.
func expDet(x float64) float64 {
	y := x / 32
	sum, term := 1.0, 1.0
	for n := 1; n <= 14; n++ {
		term *= y / float64(n)
		sum += term
	}
	for i := 0; i < 5; i++ {
		sum *= sum
	}
	return sum
}

// sinCosDet returns sin and cos of a (radians, |a| ≤ π) by Taylor series.
func sinCosDet(a float64) (s, c float64) {
	a2 := a * a
	s, c = 0, 0
	ts, tc := a, 1.0
	for n := 0; n < 12; n++ {
		s += ts
		c += tc
		ts *= -a2 / float64((2*n+2)*(2*n+3))
		tc *= -a2 / float64((2*n+1)*(2*n+2))
	}
	return s, c
}

// rot is a 3×3 rotation matrix.
type rot [3][3]float64

var identityRot = rot{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}

// rotXYZ rotates by ax about x, then ay about y, then az about z (radians).
func rotXYZ(ax, ay, az float64) rot {
	sx, cx := sinCosDet(ax)
	sy, cy := sinCosDet(ay)
	sz, cz := sinCosDet(az)
	rx := rot{{1, 0, 0}, {0, cx, -sx}, {0, sx, cx}}
	ry := rot{{cy, 0, sy}, {0, 1, 0}, {-sy, 0, cy}}
	rz := rot{{cz, -sz, 0}, {sz, cz, 0}, {0, 0, 1}}
	return rz.mul(ry.mul(rx))
}

func (m rot) mul(o rot) rot {
	var r rot
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				r[i][j] += m[i][k] * o[k][j]
			}
		}
	}
	return r
}

// applyT applies the transpose (the inverse of a rotation): world → local.
func (m rot) applyT(v vec3) vec3 {
	return vec3{
		m[0][0]*v[0] + m[1][0]*v[1] + m[2][0]*v[2],
		m[0][1]*v[0] + m[1][1]*v[1] + m[2][1]*v[2],
		m[0][2]*v[0] + m[1][2]*v[1] + m[2][2]*v[2],
	}
}

// splitmix64 is a strong 64-bit integer mix (Steele et al.), used as a
// counter-based generator: the value for voxel n depends only on n and the
// seed, never on which goroutine draws it first.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// gauss4 turns one 64-bit hash into an approximately standard normal number:
// the Irwin–Hall sum of four 16-bit uniforms, centred and scaled to unit
// variance. Integer-only up to the final scaling, so exactly reproducible.
func gauss4(h uint64) float64 {
	s := int64(h&0xffff) + int64(h>>16&0xffff) + int64(h>>32&0xffff) + int64(h>>48)
	// Mean of the sum is 4·65535/2; variance 4·(65536²−1)/12.
	const mean = 2 * 65535
	const invSD = 1 / 37837.226919 // 1/sqrt(4·(65536²−1)/12)
	return float64(s-mean) * invSD
}

// noise3 is smooth value noise in [−1, 1]: random values on the integer
// lattice, blended with a cubic fade. x, y, z are in lattice units.
func noise3(seed uint64, x, y, z float64) float64 {
	fx, fy, fz := math.Floor(x), math.Floor(y), math.Floor(z)
	ix, iy, iz := int64(fx), int64(fy), int64(fz)
	tx, ty, tz := x-fx, y-fy, z-fz
	tx = tx * tx * (3 - 2*tx)
	ty = ty * ty * (3 - 2*ty)
	tz = tz * tz * (3 - 2*tz)
	c := func(dx, dy, dz int64) float64 {
		h := splitmix64(seed ^ uint64(ix+dx)*0x8cb92ba72f3d8dd7 ^ uint64(iy+dy)*0xd6e8feb86659fd93 ^ uint64(iz+dz)*0xa0761d6478bd642f)
		return float64(h>>11)*(2.0/(1<<53)) - 1
	}
	x00 := c(0, 0, 0) + tx*(c(1, 0, 0)-c(0, 0, 0))
	x10 := c(0, 1, 0) + tx*(c(1, 1, 0)-c(0, 1, 0))
	x01 := c(0, 0, 1) + tx*(c(1, 0, 1)-c(0, 0, 1))
	x11 := c(0, 1, 1) + tx*(c(1, 1, 1)-c(0, 1, 1))
	y0 := x00 + ty*(x10-x00)
	y1 := x01 + ty*(x11-x01)
	return y0 + tz*(y1-y0)
}

// rng draws the phantom's anatomical parameters from a PCG stream.
type rng struct{ r *rand.Rand }

func newRNG(seed uint64, stream uint64) *rng {
	return &rng{r: rand.New(rand.NewPCG(splitmix64(seed), splitmix64(stream^0x5eed)))}
}

// uni is uniform in [a, b).
func (g *rng) uni(a, b float64) float64 { return a + (b-a)*g.r.Float64() }

// sym is uniform in [−a, a).
func (g *rng) sym(a float64) float64 { return g.uni(-a, a) }

// gauss is an approximately normal draw (mean 0, sd 1).
func (g *rng) gauss() float64 { return gauss4(g.r.Uint64()) }

// chance is true with probability p.
func (g *rng) chance(p float64) bool { return g.r.Float64() < p }
