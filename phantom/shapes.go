package phantom

import "math"

// Shapes are signed distance fields in millimetres (negative inside). The
// ellipsoid and tapered-capsule distances are the usual cheap
// approximations: exact on the surface, close enough near it for fillets,
// wall thicknesses and margins of a few millimetres.

// box is an axis-aligned bounding box used to skip shapes far from a point.
type box struct{ lo, hi vec3 }

func (b box) has(p vec3) bool {
	return p[0] >= b.lo[0] && p[0] <= b.hi[0] && p[1] >= b.lo[1] && p[1] <= b.hi[1] && p[2] >= b.lo[2] && p[2] <= b.hi[2]
}

func (b box) zOverlaps(z0, z1 float64) bool { return b.hi[2] >= z0 && b.lo[2] <= z1 }

func (b box) grow(m float64) box {
	return box{b.lo.sub(vec3{m, m, m}), b.hi.add(vec3{m, m, m})}
}

func (b box) union(o box) box {
	for i := 0; i < 3; i++ {
		b.lo[i] = math.Min(b.lo[i], o.lo[i])
		b.hi[i] = math.Max(b.hi[i], o.hi[i])
	}
	return b
}

// ellipsoid with centre c, semi-axes r and local axes m (columns).
type ellipsoid struct {
	c   vec3
	r   vec3
	m   rot
	rot bool
}

func ell(c, r vec3) ellipsoid { return ellipsoid{c: c, r: r, m: identityRot} }

func ellRot(c, r vec3, m rot) ellipsoid { return ellipsoid{c: c, r: r, m: m, rot: true} }

// local maps p into the ellipsoid's frame, relative to its centre.
func (e *ellipsoid) local(p vec3) vec3 {
	d := p.sub(e.c)
	if e.rot {
		d = e.m.applyT(d)
	}
	return d
}

// sdLocal is the approximate signed distance of a local offset d from an
// axis-aligned ellipsoid with semi-axes r (Quílez's k0·(k0−1)/k1 bound).
func sdLocal(d, r vec3) float64 {
	a := vec3{d[0] / r[0], d[1] / r[1], d[2] / r[2]}
	b := vec3{a[0] / r[0], a[1] / r[1], a[2] / r[2]}
	k0 := a.norm()
	k1 := b.norm()
	if k1 == 0 {
		return -math.Min(r[0], math.Min(r[1], r[2]))
	}
	return k0 * (k0 - 1) / k1
}

func (e *ellipsoid) sd(p vec3) float64 { return sdLocal(e.local(p), e.r) }

// q is the normalised squared radius: < 1 inside, 1 on the surface.
func (e *ellipsoid) q(p vec3) float64 {
	d := e.local(p)
	x, y, z := d[0]/e.r[0], d[1]/e.r[1], d[2]/e.r[2]
	return x*x + y*y + z*z
}

func (e *ellipsoid) bounds() box {
	m := math.Max(e.r[0], math.Max(e.r[1], e.r[2]))
	if !e.rot {
		return box{e.c.sub(e.r), e.c.add(e.r)}
	}
	return box{e.c.sub(vec3{m, m, m}), e.c.add(vec3{m, m, m})}
}

// seg is a capsule from a to b whose radius runs linearly from ra to rb.
type seg struct {
	a, b   vec3
	ra, rb float64
	ab     vec3
	inv    float64
	bb     box
}

func newSeg(a, b vec3, ra, rb float64) seg {
	s := seg{a: a, b: b, ra: ra, rb: rb, ab: b.sub(a)}
	if l2 := s.ab.dot(s.ab); l2 > 0 {
		s.inv = 1 / l2
	}
	r := math.Max(ra, rb)
	s.bb = box{a, a}.union(box{b, b}).grow(r)
	return s
}

func (s *seg) sd(p vec3) float64 {
	ap := p.sub(s.a)
	h := clamp(ap.dot(s.ab)*s.inv, 0, 1)
	return ap.sub(s.ab.scale(h)).norm() - (s.ra + (s.rb-s.ra)*h)
}

// sdT also returns the position h ∈ [0,1] along the segment.
func (s *seg) sdT(p vec3) (float64, float64) {
	ap := p.sub(s.a)
	h := clamp(ap.dot(s.ab)*s.inv, 0, 1)
	return ap.sub(s.ab.scale(h)).norm() - (s.ra + (s.rb-s.ra)*h), h
}

// tube is a chain of capsules through points with radii, joined smoothly.
type tube struct {
	segs []seg
	bb   box
	k    float64 // fillet radius between segments
}

func newTube(pts []vec3, radii []float64, k float64) tube {
	t := tube{k: k}
	for i := 0; i+1 < len(pts); i++ {
		s := newSeg(pts[i], pts[i+1], radii[i], radii[i+1])
		s.bb = s.bb.grow(k)
		if i == 0 {
			t.bb = s.bb
		} else {
			t.bb = t.bb.union(s.bb)
		}
		t.segs = append(t.segs, s)
	}
	return t
}

func (t *tube) sd(p vec3) float64 {
	d := math.Inf(1)
	for i := range t.segs {
		if !t.segs[i].bb.has(p) {
			continue
		}
		if t.k > 0 {
			d = smin(d, t.segs[i].sd(p), t.k)
		} else {
			d = math.Min(d, t.segs[i].sd(p))
		}
	}
	return d
}

// sdAll is the distance without the per-segment box culling of sd (which
// returns +Inf far from every segment): a lower bound of the distance
// anywhere, for deciding which cells a tube may reach.
func (t *tube) sdAll(p vec3) float64 {
	d := math.Inf(1)
	for i := range t.segs {
		d = math.Min(d, t.segs[i].sd(p))
	}
	return d - t.k
}

// sdT returns the distance and the arc position (segment index + h) of the
// nearest segment, for walls that vary along the tube (haustra).
func (t *tube) sdT(p vec3) (float64, float64) {
	d, at := math.Inf(1), 0.0
	for i := range t.segs {
		if !t.segs[i].bb.has(p) {
			continue
		}
		di, h := t.segs[i].sdT(p)
		if di < d {
			at = float64(i) + h
		}
		if t.k > 0 {
			d = smin(d, di, t.k)
		} else {
			d = math.Min(d, di)
		}
	}
	return d, at
}
