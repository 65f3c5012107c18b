package phantom

import (
	"math"

	"github.com/liverseg/liverseg/internal/parallel"
)

// fieldSize (mm) is the spacing of the per-slice grid on which the
// slowly varying fields (warp, outline bumps, fat thickness) are evaluated
// and then interpolated; they vary over centimetres, so this loses nothing.
const fieldSize = 6.25

// exhaustive turns off every shortcut (coarse liver grid, organ cells,
// diaphragm bound) so tests can check that the shortcuts change nothing.
var exhaustive = false

const nChan = 5 // warp x, y, z; body irregularity; fat variation

// sliceCtx is everything one slice needs that does not vary in-plane.
type sliceCtx struct {
	z         float64
	A, B, yc  float64
	gw, gh    int
	grid      []float64 // nChan values per coarse node
	vessels   []*vessel
	bowel     []int
	inVert    bool    // z cuts a vertebral body (else a disc)
	vertPhase float64 // 0 at the top endplate, 1 at the bottom
	endplate  float64 // mm to the nearest endplate
	thorax    bool    // z is high enough for lung anywhere
	ribsHere  []rib
	zLo, zHi  float64 // z range (warped space) of interest
	x0, dx    float64 // grid x of column 0 and spacing
	y0, dy    float64
	// Liver signed distance on a grid of liverStep pixels, so that only
	// pixels near the liver's surface need the full evaluation.
	liverGrid   []float64
	lgw, lgh    int
	liverNearby bool

	// Per cell of cellStep×cellStep pixels: which organs (bits, see the
	// org* constants) and which bowel loops (bit i = a.bowel[i]) can reach
	// into it, judged from their signed distance at the cell's centre.
	cw, ch    int
	cellStep  int
	liverStep int
	fieldStep int
	cellOrg   []uint32
	cellBowel []uint64
}

const (
	// cellSize is the largest cell edge in mm (8 pixels at 0.78 mm).
	cellSize = 6.25
	// cellMargin (mm) exceeds the distance from a cell's centre to its
	// corners (4.4 mm at 0.78 mm pixels) times the distance fields'
	// largest slope, so no organ is missed.
	cellMargin = 12
)

// Organ bits for sliceCtx.cellOrg.
const (
	orgDuodenum = 1 << iota
	orgColon
	orgStomach
	orgPancreas
	orgVeins
	orgSMA
	orgSpleen
	orgKidney0
	orgKidney1
	orgRenalV0
	orgRenalV1
	orgGallbladder
	orgAorta
	orgIVC
	orgEsophagus
	orgHeart
)

// liverCell is the largest liver-grid spacing in mm (4 pixels at 0.78 mm).
const liverCell = 3.125

// stepFor is how many pixels of size dx fit in size mm (at least 1).
func stepFor(size, dx float64) int { return max(1, int(size/dx+1e-9)) }

// liverSkip is how far (mm) the coarse liver distance must be from zero
// for a whole cell to be taken as outside or inside without evaluation; it
// allows for the distance fields' slope exceeding 1 where they are scaled.
const liverSkip = 7

func (a *anatomy) newSliceCtx(z float64, nx, ny int, x0, y0, dx, dy float64) *sliceCtx {
	c := &sliceCtx{z: z, x0: x0, y0: y0, dx: dx, dy: dy}
	c.cellStep = stepFor(cellSize, math.Max(dx, dy))
	c.liverStep = stepFor(liverCell, math.Max(dx, dy))
	c.A, c.B, c.yc = a.bodyAt(z)
	c.fieldStep = stepFor(fieldSize, math.Max(dx, dy))
	coarseStep := c.fieldStep
	c.gw = (nx+coarseStep-1)/coarseStep + 1
	c.gh = (ny+coarseStep-1)/coarseStep + 1
	c.grid = make([]float64, c.gw*c.gh*nChan)
	for gj := 0; gj < c.gh; gj++ {
		for gi := 0; gi < c.gw; gi++ {
			p := vec3{x0 + float64(gi*coarseStep)*dx, y0 + float64(gj*coarseStep)*dy, z}
			w := a.warpAt(p)
			o := (gj*c.gw + gi) * nChan
			c.grid[o], c.grid[o+1], c.grid[o+2] = w[0], w[1], w[2]
			c.grid[o+3] = a.bodyIrregularity(p)
			c.grid[o+4] = a.fatVariation(p)
		}
	}
	m := 2.2*a.warpAmp + 2
	c.zLo, c.zHi = z-m, z+m
	for i := range a.vessels {
		if a.vessels[i].bb.zOverlaps(c.zLo, c.zHi) {
			c.vessels = append(c.vessels, &a.vessels[i])
		}
	}
	for i := range a.bowel {
		if a.bowel[i].bb.zOverlaps(c.zLo, c.zHi) {
			c.bowel = append(c.bowel, i)
		}
	}
	c.cellMasks(a, nx, ny)
	// Vertebral level at this height.
	c.inVert = false
	for i := 0; i+1 < len(a.levelZ); i++ {
		top := a.levelZ[i]
		bottom := a.levelZ[i+1] + a.discT[i]
		if z <= top && z >= bottom {
			c.inVert = true
			c.vertPhase = (top - z) / (top - bottom)
			c.endplate = math.Min(top-z, z-bottom)
			break
		}
		if z < bottom && z > a.levelZ[i+1] {
			// In the disc below vertebra i: posterior elements of the
			// vertebra above still reach down here.
			c.vertPhase = 1 + (bottom-z)/(top-bottom)
			break
		}
	}
	c.thorax = z > math.Min(a.domeR[2], a.domeL[2])-140
	if a.livBB.zOverlaps(c.zLo, c.zHi) {
		c.liverNearby = true
		liverStep := c.liverStep
		c.lgw = (nx+liverStep-1)/liverStep + 1
		c.lgh = (ny+liverStep-1)/liverStep + 1
		c.liverGrid = make([]float64, c.lgw*c.lgh)
		bb := a.livBB.grow(m)
		for gj := 0; gj < c.lgh; gj++ {
			for gi := 0; gi < c.lgw; gi++ {
				i, j := gi*liverStep, gj*liverStep
				p := vec3{x0 + float64(i)*dx, y0 + float64(j)*dy, z}
				sd := 100.0
				if bb.has(p) {
					w, irr, fv := c.fields(min(i, nx-1), min(j, ny-1))
					l := a.wallLayout(p, c.A, c.B, c.yc, irr, fv)
					if l.inside {
						sd = a.liverSD(p, p.add(w), l)
					} else {
						sd = 30
					}
				}
				c.liverGrid[gj*c.lgw+gi] = sd
			}
		}
	}
	for _, r := range a.ribs {
		if r.z0+8 >= z && r.z0-r.drop*(1-r.uEnd)/2-8 <= z {
			c.ribsHere = append(c.ribsHere, r)
		}
	}
	return c
}

// cellMasks fills cellOrg and cellBowel for the slice.
func (c *sliceCtx) cellMasks(a *anatomy, nx, ny int) {
	cellStep := c.cellStep
	c.cw = (nx + cellStep - 1) / cellStep
	c.ch = (ny + cellStep - 1) / cellStep
	c.cellOrg = make([]uint32, c.cw*c.ch)
	c.cellBowel = make([]uint64, c.cw*c.ch)
	for cj := 0; cj < c.ch; cj++ {
		for ci := 0; ci < c.cw; ci++ {
			i, j := min(ci*cellStep+cellStep/2, nx-1), min(cj*cellStep+cellStep/2, ny-1)
			w, _, _ := c.fields(i, j)
			p := vec3{c.x0 + float64(i)*c.dx, c.y0 + float64(j)*c.dy, c.z}
			q := p.add(w)
			var m uint32
			for n := range a.organs {
				o := &a.organs[n]
				if m&o.bit == 0 && o.bb.has(q) && o.sd(q) < o.margin {
					m |= o.bit
				}
			}
			var bm uint64
			for _, bi := range c.bowel {
				if b := &a.bowel[bi]; b.bb.grow(8).has(q) && b.sdAll(q) < 8 {
					bm |= 1 << uint(bi)
				}
			}
			o := cj*c.cw + ci
			c.cellOrg[o], c.cellBowel[o] = m, bm
		}
	}
	if exhaustive {
		for n := range c.cellOrg {
			c.cellOrg[n] = ^uint32(0)
			c.cellBowel[n] = ^uint64(0)
		}
	}
}

// fields interpolates the coarse channels at pixel (i, j).
func (c *sliceCtx) fields(i, j int) (w vec3, irr, fatVar float64) {
	st := c.fieldStep
	gi, gj := i/st, j/st
	fx := float64(i-gi*st) / float64(st)
	fy := float64(j-gj*st) / float64(st)
	o00 := (gj*c.gw + gi) * nChan
	o10 := o00 + nChan
	o01 := o00 + c.gw*nChan
	o11 := o01 + nChan
	g := c.grid
	var v [nChan]float64
	for ch := 0; ch < nChan; ch++ {
		a := g[o00+ch] + fx*(g[o10+ch]-g[o00+ch])
		b := g[o01+ch] + fx*(g[o11+ch]-g[o01+ch])
		v[ch] = a + fy*(b-a)
	}
	return vec3{v[0], v[1], v[2]}, v[3], v[4]
}

// sample decides the tissue at world point p and its noiseless HU.
func (a *anatomy) sample(c *sliceCtx, p vec3, i, j int) (float64, Tissue) {
	// Outside the body's bounding box (F ≥ X² and the outline's bumps stay
	// under 3%): air or table, without the body-wall geometry.
	if bx, by := p[0]/(1.04*c.A), (p[1]-c.yc)/(1.04*c.B); (math.Abs(bx) > 1 || math.Abs(by) > 1) && !exhaustive {
		return a.outside(p, c)
	}
	w, irr, fatVar := c.fields(i, j)
	l := a.wallLayout(p, c.A, c.B, c.yc, irr, fatVar)
	if !l.inside {
		return a.outside(p, c)
	}
	hu, t := a.hu[Muscle], Muscle
	wall := l.fat + l.mus
	switch {
	case l.depth < 1.6:
		hu, t = a.hu[Skin], Skin
	case l.depth < l.fat:
		hu, t = a.hu[SubcutaneousFat], SubcutaneousFat
	case l.depth < wall:
		// Muscle wall, with the ribs inside it.
		if h, tt, ok := a.ribAt(c, p, l); ok {
			return h, tt
		}
	default:
		q := p.add(w)
		hu, t = a.viscera(c, p, q, l, wall, i, j)
	}
	// Back muscles, spine: they overwrite the wall and the viscera alike,
	// but not skin and subcutaneous fat.
	if l.depth >= l.fat {
		if h, tt, ok := a.backAt(c, p); ok {
			return h, tt
		}
	}
	return hu, t
}

// outside is air, or the patient table under the back.
func (a *anatomy) outside(p vec3, c *sliceCtx) (float64, Tissue) {
	x, y := p[0], p[1]
	if math.Abs(x) < 190 {
		top := a.yBack + 4 - 0.0016*x*x
		if y > top && y < top+3 || y > top+28 && y < top+31 {
			return a.hu[Table], Table
		}
		if y >= top+3 && y <= top+28 && math.Abs(x) < 170 {
			return -900, Air // foam core of the table top
		}
	}
	return a.hu[Air], Air
}

// ribAt paints a rib (bone with marrow, or costal cartilage in front) if p
// lies in one.
func (a *anatomy) ribAt(c *sliceCtx, p vec3, l layout) (float64, Tissue, bool) {
	if len(c.ribsHere) == 0 {
		return 0, 0, false
	}
	rd := l.fat + l.mus - 4.5
	dd := (l.depth - rd) / 2.9
	if dd*dd >= 1 {
		return 0, 0, false
	}
	u := l.uy
	if u > 0.93 || math.Abs(l.ux) < 0.12 {
		return 0, 0, false
	}
	for _, r := range c.ribsHere {
		if r.side*l.ux <= 0 || u < r.uEnd {
			continue
		}
		zr := r.z0 + r.drop*(u-1)/2
		dz := (p[2] - zr) / 4.5
		e := dd*dd + dz*dz
		if e >= 1 {
			continue
		}
		if u < r.cartU {
			return a.hu[Cartilage], Cartilage, true
		}
		if e < 0.3 {
			return 320, CancellousBone, true
		}
		return a.hu[CorticalBone] - 150, CorticalBone, true
	}
	return 0, 0, false
}

// backAt paints the spine and the muscles around it.
func (a *anatomy) backAt(c *sliceCtx, p vec3) (float64, Tissue, bool) {
	x, y, z := p[0], p[1], p[2]
	rx, ry := a.vertRadii(z)
	vy := a.spineY
	ax := math.Abs(x)
	if ax > rx+80 || y < vy-ry-30 {
		return 0, 0, false
	}
	// Vertebral body (or disc).
	dx, dy := x/rx, (y-vy)/ry
	e := math.Sqrt(dx*dx + dy*dy)
	if e < 1 {
		if !c.inVert {
			return a.hu[Disc], Disc, true
		}
		if e > 1-2.2/ry || c.endplate < 1.3 {
			return a.hu[CorticalBone], CorticalBone, true
		}
		return a.hu[CancellousBone] + 45*noise3(a.seed+21, x/3, y/3, z/3), CancellousBone, true
	}
	// Posterior elements around the canal.
	cy := vy + ry + 10
	ph := c.vertPhase
	cdx, cdy := x/9.5, (y-cy)/8.5
	ce := math.Sqrt(cdx*cdx + cdy*cdy)
	if ce < 1 {
		return a.hu[SpinalCanal], SpinalCanal, true
	}
	bone := false
	// Pedicles and laminae: a ring about 5 mm thick round the canal.
	if ce < 1.6 && (ph > 0.08 && ph < 0.72 || (y > cy && ph > 0.08 && ph < 1.05)) {
		bone = true
	}
	// Spinous process, sloping down behind.
	if ph > 0.45 && ph < 1.1 && ax < 3.5 && y > cy && y < cy+32+6*(ph-0.45) {
		bone = true
	}
	// Transverse processes, pointing out and back.
	if ph > 0.15 && ph < 0.4 && ax > 6 && ax < rx+10 {
		ty := cy - 3 + 0.3*(ax-6)
		if math.Abs(y-ty) < 3.3-1.3*(ax/(rx+10)) {
			bone = true
		}
	}
	if bone {
		return 380 + 100*noise3(a.seed+23, x/2, y/2, z/2), CorticalBone, true
	}
	// Paraspinal (erector spinae) muscles.
	for _, s := range [2]float64{-1, 1} {
		mx, my := (x-s*(rx*0.45+19))/25, (y-(vy+54))/20
		if mx*mx+my*my < 1 {
			return a.hu[Muscle] + 4*noise3(a.seed+25, x/8, y/8, z/12), Muscle, true
		}
	}
	// Psoas and quadratus lumborum appear below the diaphragm's crura.
	t := smoothstep(-70, -190, z)
	if t > 0 {
		prx, pry := 5+15*t, 5+12*t
		for _, s := range [2]float64{-1, 1} {
			mx, my := (x-s*(rx+prx*0.8+2))/prx, (y-(vy+2))/pry
			if mx*mx+my*my < 1 {
				return a.hu[Muscle], Muscle, true
			}
		}
	}
	if t2 := smoothstep(-95, -190, z); t2 > 0 {
		qrx, qry := 6+10*t2, 4+6*t2
		for _, s := range [2]float64{-1, 1} {
			mx, my := (x-s*(rx+44))/qrx, (y-(vy+30))/qry
			if mx*mx+my*my < 1 {
				return a.hu[Muscle], Muscle, true
			}
		}
	}
	return 0, 0, false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// viscera decides what fills the body cavity at p (warped to q).
func (a *anatomy) viscera(c *sliceCtx, p, q vec3, l layout, wall float64, i, j int) (float64, Tissue) {
	cell := (j/c.cellStep)*c.cw + i/c.cellStep
	org := c.cellOrg[cell]
	hu, t := a.hu[VisceralFat], VisceralFat
	above := -1e9
	// The recesses reach at most maxRecess below the domes: below that
	// the full diaphragm need not be computed.
	if exhaustive || q[2] > a.domes(q)-maxRecess-1 {
		above = q[2] - a.diaphragm(q, l.depth-wall, l.uy)
	}
	if above > -1.5 {
		if above < 1.5 {
			hu, t = a.hu[Muscle], Muscle // diaphragm
		} else {
			hu, t = a.hu[Lung]+18*noise3(a.seed+33, q[0]/9, q[1]/9, q[2]/9), Lung
			// Pulmonary vessels: sparse small bright blobs.
			if n := noise3(a.seed+35, q[0]/3.2, q[1]/3.2, q[2]/5); n > 0.62 {
				hu, t = -80, Lung
			}
		}
		// Heart sits on the central tendon, wrapped in epicardial fat: the
		// left ventricle (back and left) has a thick wall, the other
		// chambers thin ones, and a septum separates the two sides.
		if org&orgHeart != 0 && above > 1 {
			sd := a.heart.sd(q)
			if sd < 6 {
				hu, t = a.hu[VisceralFat], VisceralFat
				if sd < 0 {
					hu, t = a.hu[Myocardium], Myocardium
					lq := a.heart.local(q)
					wallT := 3.5
					if lq[0] > 0 && lq[1] > -10 {
						wallT = 10
					}
					if sd < -wallT && math.Abs(lq[1]+8-0.3*lq[0]) > 4.5 {
						hu, t = a.hu[HeartBlood], HeartBlood
					}
				}
			}
		}
	} else {
		hu, t = a.abdomen(c, q, hu, t, org, c.cellBowel[cell])
	}
	// Things that cross the diaphragm.
	if org&orgEsophagus != 0 {
		if sd := a.esophagus.sd(q); sd < 0 {
			hu, t = a.hu[Esophagus], Esophagus
			if sd < -6 {
				hu, t = a.hu[Gas], Gas
			}
		}
	}
	if h, tt, ok := a.liverAt(c, p, q, l, wall, i, j); ok {
		hu, t = h, tt
	}
	if org&orgAorta != 0 && a.aorta.sd(q) < 0 {
		hu, t = a.hu[Aorta], Aorta
	}
	if org&orgIVC != 0 && a.ivc.sd(q) < 0 {
		hu, t = a.hu[IVC]-20*smoothstep(-100, -140, q[2]), IVC
	}
	return hu, t
}

// abdomen paints the organs below the diaphragm, lowest priority first.
func (a *anatomy) abdomen(c *sliceCtx, q vec3, hu float64, t Tissue, org uint32, bowel uint64) (float64, Tissue) {
	// Small bowel loops.
	for _, i := range c.bowel {
		if bowel&(1<<uint(i)) == 0 {
			continue
		}
		b := &a.bowel[i]
		sd := b.sd(q)
		if sd < 0 {
			hu, t = a.hu[BowelWall], BowelWall
			if sd < -2.8 {
				hu, t = a.hu[BowelContent]+8*noise3(a.seed+41, q[0]/5, q[1]/5, q[2]/5), BowelContent
				if a.bowelGas[i] && noise3(a.seed+43+uint64(i), q[0]/9, q[1]/9, q[2]/9) > 0.2 {
					hu, t = a.hu[Gas], Gas
				}
			}
		}
	}
	if org&orgDuodenum != 0 {
		if sd := a.duodenum.sd(q); sd < 0 {
			hu, t = a.hu[BowelWall], BowelWall
			if sd < -3 {
				hu, t = a.hu[BowelContent], BowelContent
				if noise3(a.seed+45, q[0]/10, q[1]/10, q[2]/10) > 0.35 {
					hu, t = a.hu[Gas], Gas
				}
			}
		}
	}
	if org&orgColon != 0 {
		if sd, at := a.colon.sdT(q); sd < 0 {
			// Haustral folds: the wall thickens periodically along the colon.
			f := at * 4.5
			f -= math.Floor(f)
			wallT := 2.5 + 4*smoothstep(0.8, 1, f)
			hu, t = a.hu[BowelWall]-30, BowelWall
			if sd < -wallT {
				n := noise3(a.seed+47, q[0]/6, q[1]/6, q[2]/6)
				if n > -0.05 {
					hu, t = a.hu[Gas], Gas
				} else {
					hu, t = a.hu[Stool]+90*(n+0.5), Stool
				}
			}
		}
	}
	if org&orgStomach != 0 {
		if sd := a.stomachSD(q); sd < 0 {
			hu, t = a.hu[StomachWall], StomachWall
			if sd < -4 {
				hu, t = a.hu[StomachContent]+10*noise3(a.seed+49, q[0]/7, q[1]/7, q[2]/7), StomachContent
				if q[1] < a.stomAirY {
					hu, t = a.hu[Gas], Gas
				}
			}
		}
	}
	if org&orgPancreas != 0 && a.pancreas.sd(q) < 0 {
		hu, t = a.hu[Pancreas]+14*noise3(a.seed+51, q[0]/4, q[1]/4, q[2]/4), Pancreas
	}
	if org&orgVeins != 0 && (a.splenicV.sd(q) < 0 || a.smv.sd(q) < 0 || a.pvTrunk.sd(q) < 0) {
		hu, t = a.hu[PortalVein], PortalVein
	}
	if org&orgSMA != 0 && a.sma.sd(q) < 0 {
		hu, t = a.hu[Aorta], Aorta
	}
	if org&orgSpleen != 0 {
		sd := smax(a.spleen.sd(q), -a.spCut.sd(q), 10)
		if sd < 0 {
			hu, t = a.hu[Spleen]+4*noise3(a.seed+53, q[0]/10, q[1]/10, q[2]/10), Spleen
		}
	}
	for k := 0; k < 2; k++ {
		e := &a.kidney[k]
		if org&(orgKidney0<<uint(k)) == 0 {
			continue
		}
		d := e.local(q)
		ax, ay, az := d[0]/e.r[0], d[1]/e.r[1], d[2]/e.r[2]
		n := math.Sqrt(ax*ax + ay*ay + az*az)
		if n >= 1 {
			continue
		}
		hx := a.hilumSign[k] * ax
		// Renal sinus: an oval of fat, vessels and the pelvis opening
		// medially through the hilum, in the middle third of the kidney.
		sx, sy, sz := (hx-0.35)/0.55, ay/0.42, az/0.4
		sinus := sx*sx+sy*sy+sz*sz < 1
		switch {
		case sinus && hx > 0.75:
			continue // hilum opening: perirenal fat
		case sinus:
			hu, t = a.hu[RenalSinus], RenalSinus
			if sx*sx+sy*sy*2+sz*sz*2 < 0.35 {
				hu, t = 12, RenalSinus // renal pelvis (urine)
			}
		case n > 0.8:
			hu, t = a.hu[KidneyCortex], KidneyCortex
		default:
			// Pyramids of medulla separated by cortical columns.
			if noise3(a.seed+55+uint64(k), d[0]/7, d[1]/7, d[2]/9) > -0.15 {
				hu, t = a.hu[KidneyMedulla], KidneyMedulla
			} else {
				hu, t = a.hu[KidneyCortex], KidneyCortex
			}
		}
	}
	for k := 0; k < 2; k++ {
		if org&(orgRenalV0<<uint(k)) != 0 && a.renalV[k].sd(q) < 0 {
			hu, t = a.hu[IVC], IVC
		}
	}
	if a.hasGallbladder && org&orgGallbladder != 0 && a.gallbladder.sd(q) < 0 {
		hu, t = a.hu[Gallbladder], Gallbladder
	}
	return hu, t
}

// liverAt paints the liver and its vessels.
func (a *anatomy) liverAt(c *sliceCtx, p, q vec3, l layout, wall float64, i, j int) (float64, Tissue, bool) {
	if !c.liverNearby {
		return 0, 0, false
	}
	gi, gj := i/c.liverStep, j/c.liverStep
	o := gj*c.lgw + gi
	g := c.liverGrid
	lo := math.Min(math.Min(g[o], g[o+1]), math.Min(g[o+c.lgw], g[o+c.lgw+1]))
	hi := math.Max(math.Max(g[o], g[o+1]), math.Max(g[o+c.lgw], g[o+c.lgw+1]))
	if exhaustive {
		lo, hi = 0, 0
	}
	if lo > liverSkip {
		return 0, 0, false
	}
	if hi > -liverSkip && a.liverSD(p, q, l) >= 0 {
		return 0, 0, false
	}
	for _, v := range c.vessels {
		if v.bb.has(q) && v.sd(q) < 0 {
			return v.hu, LiverVessel, true
		}
	}
	// Parenchyma: faint low-frequency heterogeneity.
	h := a.hu[Liver] + 3.5*noise3(a.seed+61, q[0]/14, q[1]/14, q[2]/14) + 2*noise3(a.seed+63, q[0]/5, q[1]/5, q[2]/5)
	return h, Liver, true
}

// render fills hu (noiseless, unblurred) and tissue for every voxel of the
// grid, slices in parallel. Each slice is a pure function of the seed and
// its index, so the result does not depend on scheduling.
func (a *anatomy) render(nx, ny, nz int, origin, spacing vec3, hu []float32, tis []uint8) {
	parallel.Each(nz, func(k int) {
		z := origin[2] + float64(k)*spacing[2]
		c := a.newSliceCtx(z, nx, ny, origin[0], origin[1], spacing[0], spacing[1])
		base := k * nx * ny
		for j := 0; j < ny; j++ {
			y := origin[1] + float64(j)*spacing[1]
			for i := 0; i < nx; i++ {
				x := origin[0] + float64(i)*spacing[0]
				h, t := a.sample(c, vec3{x, y, z}, i, j)
				hu[base+j*nx+i] = float32(h)
				tis[base+j*nx+i] = uint8(t)
			}
		}
	})
}

// gaussKernel returns normalised Gaussian weights of standard deviation
// sigma (voxels), truncated at 3 sigma.
func gaussKernel(sigma float64) []float32 {
	if sigma <= 0 {
		return []float32{1}
	}
	r := int(math.Ceil(3 * sigma))
	w := make([]float64, 2*r+1)
	var sum float64
	for i := -r; i <= r; i++ {
		w[i+r] = expDet(-float64(i*i) / (2 * sigma * sigma))
		sum += w[i+r]
	}
	out := make([]float32, len(w))
	for i := range w {
		out[i] = float32(w[i] / sum)
	}
	return out
}

func sumSquares(k []float32) float64 {
	var s float64
	for _, w := range k {
		s += float64(w) * float64(w)
	}
	return s
}

// Shares of the noise variance: most of it is added before the blur, which
// gives it the spatial correlation of real CT noise; the rest after, so that
// neighbouring pixels are only partly correlated, as measured in the real
// cases (pixel-to-pixel differences about 0.7 of those 3 mm apart, where
// blurring all of it gives 0.5).
const (
	correlatedShare = 0.64
	whiteShare      = 1 - correlatedShare
)

// finish adds noise, blurs (partial volume) and rounds to int16: white
// Gaussian noise is added first so that the blur gives it the fine-grained
// spatial correlation of real CT noise, and a smaller uncorrelated part
// after; their levels are chosen so that the total SD is noiseSD.
func finish(hu []float32, out []int16, nx, ny, nz int, sxy, sz, noiseSD float64, seed uint64) {
	kxy := gaussKernel(sxy)
	kz := gaussKernel(sz)
	pre, post := 0.0, 0.0
	if noiseSD > 0 {
		if sxy > 0 {
			pre = noiseSD * math.Sqrt(correlatedShare/(sumSquares(kxy)*sumSquares(kxy)*sumSquares(kz)))
			post = noiseSD * math.Sqrt(whiteShare)
		} else {
			pre = noiseSD // no blur: all of it is white
		}
	}
	ns := splitmix64(seed ^ 0x6e6f697365)
	ns2 := splitmix64(seed ^ 0x7768697465)
	plane := nx * ny
	tmp := make([]float32, len(hu))
	parallel.Each(nz, func(k int) {
		s := hu[k*plane : (k+1)*plane]
		if pre > 0 {
			for n := range s {
				s[n] += float32(pre * gauss4(splitmix64(ns+uint64(k*plane+n))))
			}
		}
		d := tmp[k*plane : (k+1)*plane]
		// Along x.
		r := len(kxy) / 2
		for j := 0; j < ny; j++ {
			src := s[j*nx : (j+1)*nx]
			for i := 0; i < nx; i++ {
				var acc float32
				for t, w := range kxy {
					ii := min(max(i+t-r, 0), nx-1)
					acc += float32(w * src[ii]) // conversion: no fused multiply-add, same bits everywhere
				}
				d[j*nx+i] = acc
			}
		}
		// Along y (back into s), a whole row at a time.
		for j := 0; j < ny; j++ {
			o := s[j*nx : (j+1)*nx]
			for i := range o {
				o[i] = 0
			}
			for t, w := range kxy {
				jj := min(max(j+t-r, 0), ny-1)
				src := d[jj*nx : (jj+1)*nx]
				for i := range o {
					o[i] += float32(w * src[i])
				}
			}
		}
	})
	// Along z, into the int16 output.
	rz := len(kz) / 2
	parallel.Each(nz, func(k int) {
		o := out[k*plane : (k+1)*plane]
		for n := 0; n < plane; n++ {
			var acc float32
			for t, w := range kz {
				kk := min(max(k+t-rz, 0), nz-1)
				acc += float32(w * hu[kk*plane+n])
			}
			v := float64(acc)
			if post > 0 {
				v += post * gauss4(splitmix64(ns2+uint64(k*plane+n)))
			}
			v = math.Floor(v + 0.5)
			o[n] = int16(clamp(v, -1024, 3071))
		}
	})
}
