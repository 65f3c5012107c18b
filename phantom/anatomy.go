package phantom

import (
	"math"

	"github.com/liverseg/liverseg/internal/parallel"
)

// Tissue labels every voxel of the phantom before blur and noise. The
// liver's ground truth is Liver plus LiverVessel (intrahepatic vessels
// belong to the liver, as in the CHAOS and LiTS reference masks).
type Tissue uint8

// Tissue classes.
const (
	Air Tissue = iota
	Skin
	SubcutaneousFat
	Muscle
	VisceralFat
	Lung
	CorticalBone
	CancellousBone
	Disc
	SpinalCanal
	Cartilage
	Liver
	LiverVessel
	Spleen
	KidneyCortex
	KidneyMedulla
	RenalSinus
	Pancreas
	StomachWall
	StomachContent
	BowelWall
	BowelContent
	Gas
	Stool
	Gallbladder
	Aorta
	IVC
	PortalVein
	HeartBlood
	Myocardium
	Esophagus
	Table
	NumTissues
)

var tissueNames = [NumTissues]string{
	"air", "skin", "subcutaneous fat", "muscle", "visceral fat", "lung",
	"cortical bone", "cancellous bone", "disc", "spinal canal", "cartilage",
	"liver", "liver vessel", "spleen", "kidney cortex", "kidney medulla",
	"renal sinus", "pancreas", "stomach wall", "stomach content", "bowel wall",
	"bowel content", "gas", "stool", "gallbladder", "aorta", "IVC",
	"portal vein", "heart blood", "myocardium", "esophagus", "table",
}

// String names the tissue.
func (t Tissue) String() string {
	if t < NumTissues {
		return tissueNames[t]
	}
	return "unknown"
}

// baseHU is each tissue's mean attenuation in a portal-venous-phase
// abdominal CT (about 70 s after contrast), from typical published values
// checked against the real cases in ../shared/data (chaos_ct01, ircad_p01):
// muscle 68 HU, fat −84 to −92 HU (mostly subcutaneous; visceral fat is a
// little lower), kidneys 200–213 HU, liver 113–145 HU (set per seed below).
var baseHU = [NumTissues]float64{
	Air: -1000, Skin: 20, SubcutaneousFat: -95, Muscle: 62, VisceralFat: -102,
	Lung: -855, CorticalBone: 1000, CancellousBone: 230, Disc: 85,
	SpinalCanal: 22, Cartilage: 140, Liver: 106, LiverVessel: 172,
	Spleen: 115, KidneyCortex: 195, KidneyMedulla: 170, RenalSinus: -55,
	Pancreas: 96, StomachWall: 85, StomachContent: 18, BowelWall: 95,
	BowelContent: 22, Gas: -990, Stool: -30, Gallbladder: 8, Aorta: 168,
	IVC: 148, PortalVein: 172, HeartBlood: 175, Myocardium: 105,
	Esophagus: 45, Table: 140,
}

// anatomy holds one seed's anatomical parameters, in LPS millimetres (x
// towards the patient's left, y posterior, z superior). z = 0 is about the
// top of the right hemidiaphragm dome.
type anatomy struct {
	seed uint64
	hu   [NumTissues]float64

	// Body outline: half-width A, half-depth B (abdomen), flatness of the
	// back and front, the y of the skin of the back (on the table).
	bodyA, bodyB, yBack float64
	wPost, wAnt         float64
	fat0                float64 // subcutaneous fat thickness scale, mm

	// Smooth deformation of the viscera, and of the body outline.
	warpAmp float64

	// Spine: vertebral body centre y and radii (top, bottom), levels.
	spineY         float64
	vRx0, vRx1     float64
	vRy0, vRy1     float64
	levelZ         []float64 // top endplate z of each vertebra, descending
	discT          []float64 // disc thickness below each vertebra
	ribs           []rib
	domeR, domeL   vec3 // x, y, peak z of each hemidiaphragm dome
	heart          ellipsoid
	aorta, ivc     tube
	esophagus      tube
	pvTrunk        tube
	splenicV, smv  tube
	sma            tube
	renalV         [2]tube
	stomach        []ellipsoid
	stomachBB      box
	stomAirY       float64
	pancreas       tube
	duodenum       tube
	colon          tube
	bowel          []tube
	bowelGas       []bool
	spleen, spCut  ellipsoid
	kidney         [2]ellipsoid
	hilumSign      [2]float64
	gallbladder    ellipsoid
	hasGallbladder bool

	// Liver: lobes in the unscaled frame, scaled by livScale about
	// livAnchor so that the volume hits livTarget.
	livAnchor   vec3
	livScale    float64
	livTarget   float64 // mL
	livEstimate float64 // mL, as last measured by calibrateLiver
	rl, ll, cl  ellipsoid
	riedel      ellipsoid
	hasRiedel   bool
	rlTaper     float64
	rlLat       float64 // < 1: stretch of the right lobe's lateral half
	rlAnt       float64 // and of its anterior half
	rlPost      float64 // and of its posterolateral quarter
	llTaper     float64
	fissure     seg
	livBB       box // in world (scaled) space, generous
	vessels     []vessel

	// Bounding boxes, precomputed.
	heartBB, spleenBB, gbBB                box
	kidneyBB                               [2]box
	kidneyKeepBB, gbKeepBB                 box
	ivcKeep, aortaKeep, colonKeep, duoKeep box
	organs                                 []organRef
	esoKeep, pvKeep                        box
}

// organRef lets a slice test cheaply which organs reach a cell: bit is
// the organ's flag in sliceCtx.cellOrg, bb its box grown by cellMargin.
type organRef struct {
	bit    uint32
	bb     box
	sd     func(vec3) float64
	margin float64
}

func (a *anatomy) buildOrganRefs() {
	// Tubes' distances are exact (slope 1): a margin over the cell's
	// half-diagonal (4.4 mm) plus the warp's change across it will do. The ellipsoid bound can be steeper (up to the
	// ratio of its radii), so ellipsoids get cellMargin.
	const tubeMargin = 8
	addT := func(bit uint32, t *tube) {
		a.organs = append(a.organs, organRef{bit, t.bb.grow(tubeMargin), t.sdAll, tubeMargin})
	}
	addE := func(bit uint32, bb box, sd func(vec3) float64) {
		a.organs = append(a.organs, organRef{bit, bb.grow(cellMargin), sd, cellMargin})
	}
	addT(orgDuodenum, &a.duodenum)
	addT(orgColon, &a.colon)
	addE(orgStomach, a.stomachBB, a.stomachSD)
	addT(orgPancreas, &a.pancreas)
	addT(orgVeins, &a.splenicV)
	addT(orgVeins, &a.smv)
	addT(orgVeins, &a.pvTrunk)
	addT(orgSMA, &a.sma)
	addE(orgSpleen, a.spleenBB, a.spleen.sd)
	addE(orgKidney0, a.kidneyBB[0], a.kidney[0].sd)
	addE(orgKidney1, a.kidneyBB[1], a.kidney[1].sd)
	addT(orgRenalV0, &a.renalV[0])
	addT(orgRenalV1, &a.renalV[1])
	addE(orgGallbladder, a.gbBB, a.gallbladder.sd)
	addT(orgAorta, &a.aorta)
	addT(orgIVC, &a.ivc)
	addT(orgEsophagus, &a.esophagus)
	addE(orgHeart, a.heartBB, a.heart.sd)
}

// rib: posterior origin height z0, fall to the front drop, extent in u
// (the y-cosine around the body: +1 back, −1 front) and side (−1 right).
type rib struct {
	side, z0, drop, uEnd, cartU float64
}

// vessel is one capsule of the intrahepatic trees.
type vessel struct {
	seg
	hu float64
}

func newAnatomy(seed uint64) *anatomy {
	g := newRNG(seed, 1)
	a := &anatomy{seed: seed, hu: baseHU}

	// Enhancement varies between patients and scanners.
	a.hu[Liver] = 120 + g.sym(8)
	a.hu[Spleen] = a.hu[Liver] + 8 + g.sym(4)
	a.hu[LiverVessel] = a.hu[Liver] + 62 + g.sym(8)
	a.hu[PortalVein] = a.hu[LiverVessel]

	// Body size and liver volume go together (bigger people, bigger
	// livers), both following a golden-ratio (Weyl) sequence u ∈ [0, 1)
	// computed in 64-bit fixed point, so consecutive seeds differ in u by
	// at least 0.38.
	u := float64((seed*0x9e3779b97f4a7c15)>>11) / (1 << 53)
	a.bodyA = 156 + 16*u + g.sym(3)
	a.bodyB = 108 + 12*u + g.sym(2)
	a.yBack = 118
	a.wPost = g.uni(0.45, 0.65)
	a.wAnt = g.uni(0.05, 0.2)
	a.fat0 = 5 + 7*u + g.sym(2)
	a.warpAmp = g.uni(3.5, 6)

	// Spine.
	a.spineY = a.yBack - 74
	a.vRx0, a.vRx1 = 17+g.sym(1.5), 24+g.sym(2)
	a.vRy0, a.vRy1 = 14+g.sym(1), 18+g.sym(1.5)
	z := 48 + g.sym(10)
	for z > -260 {
		a.levelZ = append(a.levelZ, z)
		h := 22 + 0.07*(48-z) + g.sym(1)
		d := 4 + 0.03*(48-z)
		a.discT = append(a.discT, d)
		z -= h + d
	}

	// Ribs: posterior origins about one vertebra apart; the lower ones are
	// short (floating ribs 11 and 12) and only the upper ones reach the
	// front through costal cartilage.
	uEnds := []float64{-0.85, -0.8, -0.78, -0.7, -0.55, -0.35, -0.1, 0.2, 0.45}
	for side := -1.0; side <= 1; side += 2 {
		z0 := 160 + g.sym(8) // rib 4; rib 10 leaves the spine near the dome's height
		for n, ue := range uEnds {
			a.ribs = append(a.ribs, rib{
				side: side, z0: z0 - float64(n)*(25+g.sym(1.5)),
				drop: 170 + 10*float64(n) + g.sym(12), uEnd: ue + g.sym(0.05), cartU: -0.45,
			})
		}
	}

	// Diaphragm domes: the right one higher (the liver pushes it up).
	a.domeR = vec3{-62 + g.sym(6), -4 + g.sym(5), -3 + g.sym(5)}
	a.domeL = vec3{66 + g.sym(6), 16 + g.sym(5), -14 + g.sym(6)}

	// Mediastinum: heart on the central tendon, apex left-anterior.
	a.heart = ellRot(vec3{18 + g.sym(4), -34 + g.sym(4), 38 + g.sym(5)}, vec3{76, 58, 56}, rotXYZ(0, 0, -0.62))

	// Great vessels, placed against the spine.
	vy := a.spineY
	a.aorta = newTube([]vec3{{22, vy - 6, 45}, {18, vy - 14, -30}, {11, vy - 33, -95}, {8, vy - 34, -200}},
		[]float64{12.5, 12, 11.5, 10.5}, 0)
	a.ivc = newTube([]vec3{{-6, 0, 45}, {-17, 18, -8}, {-22, 20, -60}, {-25, vy - 26, -110}, {-26, vy - 26, -200}},
		[]float64{13, 12.5, 11.5, 11, 10.5}, 6)
	a.esophagus = newTube([]vec3{{4, vy - 30, 45}, {14, vy - 32, -10}, {32, 14, -36}}, []float64{8, 8, 9}, 6)

	// Kidneys: long axes tilted (upper pole medial and posterior), hilum
	// facing anteromedially. The left one sits a little higher.
	kr := vec3{-70 + g.sym(4), 58 + g.sym(3), -122 + g.sym(8)}
	kl := vec3{72 + g.sym(4), 58 + g.sym(3), -110 + g.sym(8)}
	rk := vec3{27 + g.sym(2), 24 + g.sym(2), 52 + g.sym(4)}
	lk := vec3{27 + g.sym(2), 24 + g.sym(2), 53 + g.sym(4)}
	a.kidney[0] = ellRot(kr, rk, rotXYZ(-0.3, 0.22, -0.5))
	a.kidney[1] = ellRot(kl, lk, rotXYZ(-0.3, -0.22, 0.5))
	a.hilumSign = [2]float64{1, -1}
	a.renalV[0] = newTube([]vec3{kr.add(vec3{18, -14, 2}), {-25, vy - 24, kr[2] + 6}}, []float64{5, 5.5}, 0)
	a.renalV[1] = newTube([]vec3{kl.add(vec3{-18, -14, 2}), {14, vy - 50, kl[2] + 2}, {-24, vy - 26, kl[2] + 2}}, []float64{5, 5, 5.5}, 4)

	// Spleen: a crescent along the left posterolateral ribs.
	sc := vec3{88 + g.sym(5), 42 + g.sym(5), -50 + g.sym(6)}
	ss := g.uni(0.85, 1.15)
	a.spleen = ellRot(sc, vec3{30, 60 * ss, 52 * ss}, rotXYZ(0, 0, 0.47))
	a.spCut = ellRot(sc.add(vec3{-36, -6, 0}), vec3{30, 56 * ss, 62 * ss}, rotXYZ(0, 0, 0.47))

	// Stomach: fundus under the left dome, body, antrum towards the
	// pylorus; gas rises to the front (the patient lies supine).
	sd := g.uni(0.85, 1.15)
	a.stomach = []ellipsoid{
		ell(vec3{52, 20, -30}, vec3{36, 32, 28}.scale(sd)),
		ell(vec3{50, -2, -54}, vec3{40, 36, 38}.scale(sd)),
		ell(vec3{8, -40, -84}, vec3{32, 20, 22}.scale(sd)),
		ell(vec3{-24, -40, -90}, vec3{15, 13, 13}),
	}
	a.stomachBB = a.stomach[0].bounds()
	for i := range a.stomach {
		a.stomachBB = a.stomachBB.union(a.stomach[i].bounds())
	}
	a.stomachBB = a.stomachBB.grow(14)
	a.stomAirY = -22 + g.sym(12)

	// Pancreas from the head (in the duodenal C) to the splenic hilum,
	// with the splenic vein behind it joining the SMV into the portal vein.
	a.pancreas = newTube([]vec3{{-40, 6, -112}, {-12, -4, -100}, {24, 8, -92}, {58, 26, -84}, {80, 36, -78}},
		[]float64{16, 12, 11, 10, 8}, 8)
	conf := vec3{0, 18, -99}
	a.splenicV = newTube([]vec3{{78, 44, -76}, {40, 24, -88}, conf}, []float64{4.5, 5, 5.5}, 0)
	a.smv = newTube([]vec3{conf, {4, 0, -130}, {8, -10, -200}}, []float64{5.5, 5, 5}, 0)
	a.sma = newTube([]vec3{{11, vy - 40, -92}, {14, 2, -112}, {16, -8, -200}}, []float64{3.5, 3.5, 3.5}, 0)

	a.duodenum = newTube([]vec3{{-26, -40, -90}, {-50, -16, -96}, {-60, 6, -116}, {-48, 12, -140}, {-10, 10, -148}, {26, 4, -140}},
		[]float64{11, 11, 11, 11, 10, 10}, 8)
	a.colon = newTube([]vec3{{-84, 10, -215}, {-86, 14, -175}, {-78, 0, -148}, {-58, -34, -134}, {-28, -72, -140},
		{20, -74, -136}, {66, -44, -104}, {86, -6, -80}, {98, 24, -104}, {100, 30, -150}, {94, 26, -215}},
		[]float64{26, 24, 23, 22, 21, 21, 21, 21, 20, 19, 19}, 10)

	// Small-bowel loops fill the lower anterior abdomen.
	bg := newRNG(seed, 2)
	for n := 0; n < 40; n++ {
		p := vec3{bg.uni(-75, 75), bg.uni(-95, 10), bg.uni(-205, -112)}
		r := bg.uni(10, 14)
		pts := []vec3{p}
		rad := []float64{r}
		dir := vec3{bg.sym(1), bg.sym(1), bg.sym(0.6)}
		for s := 0; s < 4; s++ {
			dir = dir.add(vec3{bg.sym(0.9), bg.sym(0.9), bg.sym(0.5)})
			dir = dir.scale(1 / (dir.norm() + 1e-9))
			p = p.add(dir.scale(bg.uni(22, 34)))
			pts = append(pts, p)
			rad = append(rad, r)
		}
		a.bowel = append(a.bowel, newTube(pts, rad, 6))
		a.bowelGas = append(a.bowelGas, bg.chance(0.3))
	}

	// Gallbladder hangs under the liver between the lobes, fundus forward.
	a.hasGallbladder = g.chance(0.85)
	a.gallbladder = ellRot(vec3{-44 + g.sym(5), -48 + g.sym(5), -94 + g.sym(6)}, vec3{16, 16, 34}.scale(g.uni(0.8, 1.15)), rotXYZ(-0.7, 0, 0))

	a.pvTrunk = newTube([]vec3{conf, {-28, -2, -72}}, []float64{7, 7}, 0)

	// Liver: right lobe (tapering downwards and backwards), left lobe
	// (thin, anterior, tapering to the left), caudate lobe by the IVC, and
	// in some seeds a Riedel's lobe (a tongue of the right lobe).
	a.livAnchor = vec3{-60, 0, 0}
	a.rl = ell(vec3{-74 + g.sym(8), 2 + g.sym(6), -58 + g.sym(6)}, vec3{70 * g.uni(0.9, 1.1), 90 * g.uni(0.93, 1.07), 84 * g.uni(0.85, 1.15)})
	a.rlTaper = g.uni(0.1, 0.55)
	ls := g.uni(0.75, 1.25)
	a.ll = ell(vec3{8 + 10*(ls-1) + g.sym(4), -42 + g.sym(4), -50 + g.sym(5)}, vec3{68 * ls, 38 * g.uni(0.85, 1.15), 34 * g.uni(0.85, 1.15)})
	a.llTaper = g.uni(0.6, 1.2)
	a.cl = ell(vec3{-10 + g.sym(3), 10 + g.sym(3), -55 + g.sym(4)}, vec3{20, 22, 32})
	a.hasRiedel = g.chance(0.35)
	a.riedel = ell(vec3{-98 + g.sym(5), 8 + g.sym(8), -116 + g.sym(6)}, vec3{30, 44, 36})
	xf := 2 + g.sym(6)
	// How far the right lobe's lateral, anterior and posterolateral halves
	// reach towards the walls (see liverShape): another per-patient shape
	// difference.
	a.rlLat, a.rlAnt, a.rlPost = g.uni(0.62, 0.8), g.uni(0.72, 0.9), g.uni(0.78, 0.95)
	a.fissure = newSeg(vec3{xf, -80, -78}, vec3{xf - 4, -28, -62}, 3, 2.5)
	a.heartBB = a.heart.bounds().grow(6)
	a.spleenBB = a.spleen.bounds()
	a.gbBB = a.gallbladder.bounds()
	a.kidneyBB = [2]box{a.kidney[0].bounds(), a.kidney[1].bounds()}
	a.kidneyKeepBB = a.kidneyBB[0].grow(8)
	a.gbKeepBB = a.gbBB.grow(4)
	a.ivcKeep, a.aortaKeep, a.colonKeep = a.ivc.bb.grow(3), a.aorta.bb.grow(8), a.colon.bb.grow(5)
	a.duoKeep, a.esoKeep, a.pvKeep = a.duodenum.bb.grow(4), a.esophagus.bb.grow(4), a.pvTrunk.bb.grow(3)
	a.buildOrganRefs()
	// Consecutive seeds' targets differ by at least 0.38·330 = 125 mL.
	a.livTarget = 1250 + 330*u
	a.livScale = 1
	a.calibrateLiver()
	a.buildVessels(newRNG(seed, 3))
	return a
}

// diaphragm is the height (z) of the diaphragm over (x, y): two gentle
// domes joined smoothly over the central tendon, plunging into narrow
// costophrenic recesses along the chest wall (inner: mm inside the wall's
// inner surface; uy: the direction's y cosine, +1 at the back), shallow in
// front and deepest at the back and beside the spine.
func (a *anatomy) diaphragm(q vec3, inner, uy float64) float64 {
	D := a.domes(q)
	// Beside the spine the lungs reach down as far as at the back wall.
	if sp := a.spineKeepOut(q) + 12; sp < inner && q[1] > a.spineY-4 {
		inner = math.Max(sp, 0)
		uy = 0.6
	}
	depth := 30 + 22*uy + 38*math.Max(0, uy)
	f := 1 - smoothstep(0, 24, inner)
	return D - depth*f*f
}

// maxRecess bounds how far below the domes the recesses reach.
const maxRecess = 30 + 22 + 38

// domes is the diaphragm's height away from the chest wall.
func (a *anatomy) domes(q vec3) float64 {
	x, y := q[0], q[1]
	dome := func(d vec3) float64 {
		dx := (x - d[0]) / 100
		dy := y - d[1]
		if dy > 0 {
			dy /= 85
		} else {
			dy /= 115
		}
		r2 := dx*dx + dy*dy
		return d[2] - 36*r2 - 8*r2*r2
	}
	return smax(dome(a.domeR), dome(a.domeL), 30)
}

// liverLocal maps a (warped) point into the liver's unscaled frame.
func (a *anatomy) liverLocal(q vec3) vec3 {
	d := q.sub(a.livAnchor)
	s, sz := a.liverScales()
	return a.livAnchor.add(vec3{d[0] / s, d[1] / s, d[2] / sz})
}

// liverScales are the in-plane and craniocaudal scale factors: a bigger
// liver grows less in height, so that it stays above the kidneys' lower
// poles (inside the field of view).
func (a *anatomy) liverScales() (s, sz float64) {
	return a.livScale, 1 + 0.3*(a.livScale-1)
}

// liverToWorld maps a point of the unscaled liver frame into the body.
func (a *anatomy) liverToWorld(p vec3) vec3 {
	d := p.sub(a.livAnchor)
	s, sz := a.liverScales()
	return a.livAnchor.add(vec3{d[0] * s, d[1] * s, d[2] * sz})
}

// liverShape is the liver's own signed distance, before it is fitted into
// the body (wall, diaphragm, neighbours).
func (a *anatomy) liverShape(q vec3) float64 {
	u := a.liverLocal(q)
	// Right lobe: below its centre the section shrinks and slides back and
	// out, so the lobe ends in a posterolateral tip.
	d := u.sub(a.rl.c)
	t := clamp(-d[2]/a.rl.r[2], 0, 1)
	s := 1 + a.rlTaper*t*t
	// The lateral surface stays against the body wall down to the tip (the
	// wall clips it there): the section's centre moves out as it narrows.
	lat := 0.75 * a.rl.r[0] * (1 - math.Sqrt(1-t*t)/s)
	d[0] = (d[0]+lat)*s + 8*t*t*math.Max(0, d[0]+lat) // medial side recedes faster
	d[1] = (d[1] + 14*t) * s
	if d[0] < 0 {
		// The lateral half reaches further: the body wall, not the lobe's
		// own curvature, bounds the diaphragmatic surface.
		d[0] *= a.rlLat
	}
	if d[1] < 0 {
		d[1] *= a.rlAnt // likewise the anterior wall bounds the anterior surface
	} else if d[0] < 0 {
		d[1] *= a.rlPost // and the posterolateral wall the bare area
	}
	sd := sdLocal(d, a.rl.r)
	// Left lobe: thinner towards the patient's left.
	d = u.sub(a.ll.c)
	lt := math.Max(0, d[0]/a.ll.r[0])
	d[1] *= 1 + a.llTaper*lt
	d[2] *= 1 + 0.7*a.llTaper*lt
	sd = smin(sd, sdLocal(d, a.ll.r), 30)
	sd = smin(sd, a.cl.sd(u), 14)
	if a.hasRiedel {
		sd = smin(sd, a.riedel.sd(u), 22)
	}
	// Fissure of the ligamentum teres notches the front of the left lobe.
	sd = math.Max(sd, -a.fissure.sd(u))
	return sd * a.livScale
}

// liverSD is the liver's final signed distance at world point p (warped to
// q) given the body-wall depth and wall thickness there: the shape, kept
// inside the abdominal wall, under the diaphragm, and clear of its
// neighbours by a few millimetres of fat.
func (a *anatomy) liverSD(p, q vec3, l layout) float64 {
	if !a.livBB.has(q) {
		return 1e9
	}
	sd := a.liverShape(q)
	if sd > 8 {
		return sd
	}
	return math.Max(sd, a.liverRoom(q, l))
}

// liverRoom is the signed distance of the space the liver may occupy: inside
// the abdominal wall, under the diaphragm, and clear of its neighbours by a
// few millimetres of fat. It does not depend on the liver's own shape.
func (a *anatomy) liverRoom(q vec3, l layout) float64 {
	inner := l.depth - l.fat - l.mus
	sd := 0.5 + 1.5*math.Max(0, -l.uy) - inner // a thin preperitoneal fat line, wider in front
	sd = math.Max(sd, q[2]-(a.diaphragm(q, inner, l.uy)-1.6))
	keep := func(o float64, margin float64) {
		sd = math.Max(sd, margin-o)
	}
	if k := &a.kidney[0]; a.kidneyKeepBB.has(q) {
		keep(k.sd(q), 2)
	}
	if a.stomachBB.has(q) {
		keep(a.stomachSD(q), 2)
	}
	if a.hasGallbladder && a.gbKeepBB.has(q) {
		keep(a.gallbladder.sd(q), 1)
	}
	if a.ivcKeep.has(q) {
		keep(a.ivc.sd(q), 1)
	}
	if a.aortaKeep.has(q) {
		keep(a.aorta.sd(q), 6)
	}
	if a.colonKeep.has(q) {
		keep(a.colon.sd(q), 2)
	}
	if a.duoKeep.has(q) {
		keep(a.duodenum.sd(q), 1.5)
	}
	if a.esoKeep.has(q) {
		keep(a.esophagus.sd(q), 3)
	}
	if a.pvKeep.has(q) && q[2] < -80 {
		keep(a.pvTrunk.sd(q), 2)
	}
	// Spine and right crus: the liver stays in front of the vertebrae.
	keep(a.spineKeepOut(q), 0)
	return sd
}

// spineKeepOut is a coarse signed distance of the vertebral column region
// (body plus the muscles beside it) that no viscus may enter.
func (a *anatomy) spineKeepOut(q vec3) float64 {
	rx, ry := a.vertRadii(q[2])
	dx := q[0] / (rx + 14)
	dy := (q[1] - a.spineY - 6) / (ry + 10)
	return (math.Sqrt(dx*dx+dy*dy) - 1) * (ry + 10)
}

func (a *anatomy) vertRadii(z float64) (rx, ry float64) {
	t := smoothstep(40, -180, z)
	return a.vRx0 + (a.vRx1-a.vRx0)*t, a.vRy0 + (a.vRy1-a.vRy0)*t
}

func (a *anatomy) stomachSD(q vec3) float64 {
	d := math.Inf(1)
	for i := range a.stomach {
		d = smin(d, a.stomach[i].sd(q), 18)
	}
	return d
}

// bodyAt gives the body outline at height z: the chest is a little wider
// and deeper than the abdomen; the back stays on the table.
func (a *anatomy) bodyAt(z float64) (A, B, yc float64) {
	t := smoothstep(-80, 20, z)
	A = a.bodyA * (1 + 0.03*t)
	B = a.bodyB * (1 + 0.07*t)
	return A, B, a.yBack - B
}

// warpAt is the smooth displacement of the viscera at p (mm): two octaves
// of value noise, identical for all organs so they deform together.
func (a *anatomy) warpAt(p vec3) vec3 {
	var w vec3
	for c := 0; c < 3; c++ {
		s := a.seed*7 + uint64(c)*0x1234567
		w[c] = a.warpAmp*noise3(s, p[0]/55, p[1]/55, p[2]/55) +
			0.4*a.warpAmp*noise3(s^0xabcdef, p[0]/24, p[1]/24, p[2]/24)
	}
	return w
}

// bodyIrregularity is the relative bumpiness of the skin outline at p.
func (a *anatomy) bodyIrregularity(p vec3) float64 {
	s := a.seed*13 + 99
	return 0.018*noise3(s, p[0]/45, p[1]/45, p[2]/70) + 0.006*noise3(s^0x77, p[0]/14, p[1]/14, p[2]/30)
}

// wallAt returns the body-wall layout along the direction (ux, uy) from the
// body centre: subcutaneous fat thickness and muscle thickness. Fat is
// thicker in front and over the flanks; muscle thicker at the sides and
// back.
func (a *anatomy) wallAt(ux, uy, fatVar float64) (fat, mus float64) {
	ant := math.Max(0, -uy)
	post := math.Max(0, uy)
	fat = a.fat0 * (0.8 + 0.35*ant + 0.6*post*ux*ux) * (1 + fatVar)
	mus = 7 + 3*ux*ux + 6*post
	return fat, mus
}

// calibrateLiver scales the liver about its anchor until its volume,
// measured on a 3 mm grid, matches the seed's target. The body wall and the
// warp do not depend on the scale, so they are evaluated once.
func (a *anatomy) calibrateLiver() {
	const h = 3.0
	a.updateLiverBB()
	// Sample points: everything the liver could reach at the largest scale.
	type pt struct {
		q    vec3
		room float64
	}
	a.livScale = maxLiverScale
	a.updateLiverBB()
	bb := a.livBB
	a.livScale = 1
	var zs []float64
	for z := bb.lo[2]; z <= bb.hi[2]; z += h {
		zs = append(zs, z)
	}
	planes := make([][]pt, len(zs))
	parallel.Each(len(zs), func(k int) {
		z := zs[k]
		A, B, yc := a.bodyAt(z)
		for y := bb.lo[1]; y <= bb.hi[1]; y += h {
			for x := bb.lo[0]; x <= bb.hi[0]; x += h {
				p := vec3{x, y, z}
				l := a.wallLayout(p, A, B, yc, a.bodyIrregularity(p), a.fatVariation(p))
				if !l.inside || l.depth < l.fat+l.mus {
					continue
				}
				q := p.add(a.warpAt(p))
				if room := a.liverRoom(q, l); room < 0 {
					planes[k] = append(planes[k], pt{q, room})
				}
			}
		}
	})
	volume := func() float64 {
		counts := make([]int, len(planes))
		parallel.Each(len(planes), func(k int) {
			for _, t := range planes[k] {
				if a.livBB.has(t.q) && a.liverShape(t.q) < 0 {
					counts[k]++
				}
			}
		})
		n := 0
		for _, c := range counts {
			n += c
		}
		return float64(n) * h * h * h / 1000
	}
	// Secant iterations on volume(scale); the volume grows much more slowly
	// than the cube of the scale because the wall and diaphragm clip it.
	s0, v0 := 0.0, 0.0
	for it := 0; it < 10; it++ {
		a.updateLiverBB()
		v := volume()
		a.livEstimate = v
		if math.Abs(v/a.livTarget-1) < 0.004 {
			break
		}
		s1 := a.livScale
		var next float64
		if it == 0 || v == v0 {
			next = s1 * (1 + 0.8*(a.livTarget/math.Max(v, 1)-1))
		} else {
			next = s1 + (a.livTarget-v)*(s1-s0)/(v-v0)
		}
		next = clamp(next, s1-0.15, s1+0.15)
		s0, v0 = s1, v
		a.livScale = clamp(next, 0.7, maxLiverScale)
	}
	a.updateLiverBB()
}

// maxLiverScale bounds the calibration (and the sampled region).
const maxLiverScale = 1.8

func (a *anatomy) updateLiverBB() {
	toWorld := func(b box) box {
		return box{a.liverToWorld(b.lo), a.liverToWorld(b.hi)}
	}
	rlb := a.rl.bounds()
	rlb.hi[0] += 20
	rlb.hi[1] += 30 + 0.3*a.rl.r[1]
	// The lateral and anterior halves are stretched (see liverShape).
	rlb.lo[0] -= (1/a.rlLat-1)*a.rl.r[0] + 0.75*a.rl.r[0]
	rlb.lo[1] -= (1/a.rlAnt-1)*a.rl.r[1] + 14
	b := toWorld(rlb).union(toWorld(a.ll.bounds())).union(toWorld(a.cl.bounds()))
	if a.hasRiedel {
		b = b.union(toWorld(a.riedel.bounds()))
	}
	a.livBB = b.grow(8)
}

// wallDepth returns how deep p lies under the skin (mm, along the ray from
// the body centre), the thickness of the body wall there, and whether p is
// inside the body at all.
func (a *anatomy) wallDepth(p vec3, A, B, yc, irr, fatVar float64) (depth, wall float64, inside bool) {
	l := a.wallLayout(p, A, B, yc, irr, fatVar)
	return l.depth, l.fat + l.mus, l.inside
}

// layout describes where a point sits in the body wall.
type layout struct {
	inside          bool
	depth, fat, mus float64
	ux, uy          float64 // unit direction from the body centre
}

func (a *anatomy) wallLayout(p vec3, A, B, yc, irr, fatVar float64) layout {
	X := p[0] / A
	Y := (p[1] - yc) / B
	w := a.wAnt
	if Y > 0 {
		w = a.wPost
	}
	x2, y2 := X*X, Y*Y
	F := (1-w)*(x2+y2) + w*math.Sqrt(x2*x2+y2*y2)
	r := math.Sqrt(F) * (1 + irr)
	if r >= 1 {
		return layout{}
	}
	dy := p[1] - yc
	rho := math.Sqrt(p[0]*p[0] + dy*dy)
	if r < 1e-9 || rho < 1e-9 {
		return layout{inside: true, depth: 1e9, ux: 0, uy: 1}
	}
	l := layout{inside: true, depth: rho * (1/r - 1), ux: p[0] / rho, uy: dy / rho}
	l.fat, l.mus = a.wallAt(l.ux, l.uy, fatVar)
	return l
}

// fatVariation modulates the subcutaneous fat thickness around the body.
func (a *anatomy) fatVariation(p vec3) float64 {
	return 0.18 * noise3(a.seed*17+5, p[0]/60, p[1]/60, p[2]/90)
}

// buildVessels grows the intrahepatic portal and hepatic venous trees: the
// named trunks (scaled with the liver) and random side branches that stay
// inside the liver, thinning with each generation.
func (a *anatomy) buildVessels(g *rng) {
	w := a.liverToWorld
	s := a.livScale
	type trunk struct {
		pts []vec3
		r   []float64
		hu  float64
	}
	hv := a.hu[LiverVessel] - 8
	pv := a.hu[LiverVessel] + 4
	hilum := vec3{-28, -2, -72}
	rpv := vec3{-62, 2, -66}
	lpv := vec3{-2, -18, -58}
	umb := vec3{8, -52, -62}
	conf := vec3{-19, 21, -8}
	trunks := []trunk{
		{[]vec3{hilum, rpv}, []float64{7.5, 6.5}, pv},
		{[]vec3{rpv, {-90, -34, -56}}, []float64{5.5, 4}, pv},
		{[]vec3{rpv, {-102, 34, -82}}, []float64{5.5, 4}, pv},
		{[]vec3{hilum, lpv, umb}, []float64{6.5, 6, 5}, pv},
		{[]vec3{umb, {46, -44, -50}}, []float64{4.5, 3}, pv},
		{[]vec3{lpv, {42, -24, -44}}, []float64{4.5, 3}, pv},
		{[]vec3{conf, {-70, 8, -28}, {-116, 2, -70}}, []float64{7.5, 5.5, 3.5}, hv},
		{[]vec3{conf, {-36, -26, -30}, {-48, -68, -72}}, []float64{7, 5, 3.5}, hv},
		{[]vec3{conf, {0, -20, -20}, {36, -46, -36}}, []float64{6.5, 4.5, 3}, hv},
	}
	inside := func(p vec3) bool { return a.liverShape(p) < -4 }
	var grow func(p, dir vec3, length, r, hu float64, depth int)
	grow = func(p, dir vec3, length, r, hu float64, depth int) {
		if r < 1.0 || depth > 5 {
			return
		}
		end := p.add(dir.scale(length))
		for tries := 0; tries < 2 && !inside(end); tries++ {
			length *= 0.5
			end = p.add(dir.scale(length))
		}
		if !inside(end) {
			return
		}
		a.vessels = append(a.vessels, vessel{newSeg(p, end, r, r*0.85), hu})
		for c := 0; c < 2; c++ {
			perp := vec3{g.sym(1), g.sym(1), g.sym(1)}
			perp = perp.sub(dir.scale(perp.dot(dir)))
			nd := dir.add(perp.scale(g.uni(0.5, 1.1) / (perp.norm() + 1e-9)))
			nd = nd.scale(1 / nd.norm())
			grow(end, nd, length*g.uni(0.6, 0.85), r*g.uni(0.62, 0.78), hu, depth+1)
		}
	}
	for _, t := range trunks {
		for i := 0; i+1 < len(t.pts); i++ {
			p0, p1 := w(t.pts[i]), w(t.pts[i+1])
			a.vessels = append(a.vessels, vessel{newSeg(p0, p1, t.r[i]*math.Sqrt(s), t.r[i+1]*math.Sqrt(s)), t.hu})
			// Side branches along each trunk segment.
			dir := p1.sub(p0)
			l := dir.norm()
			dir = dir.scale(1 / l)
			for b := 0; b < 3; b++ {
				at := p0.add(dir.scale(l * g.uni(0.3, 0.9)))
				perp := vec3{g.sym(1), g.sym(1), g.sym(1)}
				perp = perp.sub(dir.scale(perp.dot(dir)))
				nd := dir.scale(0.5).add(perp.scale(1 / (perp.norm() + 1e-9)))
				nd = nd.scale(1 / nd.norm())
				grow(at, nd, g.uni(18, 30), t.r[i+1]*0.65, t.hu, 1)
			}
		}
		// The tree continues beyond each trunk's end.
		n := len(t.pts)
		end, prev := w(t.pts[n-1]), w(t.pts[n-2])
		dir := end.sub(prev)
		dir = dir.scale(1 / dir.norm())
		for c := 0; c < 2; c++ {
			perp := vec3{g.sym(1), g.sym(1), g.sym(1)}
			perp = perp.sub(dir.scale(perp.dot(dir)))
			nd := dir.add(perp.scale(0.7 / (perp.norm() + 1e-9)))
			nd = nd.scale(1 / nd.norm())
			grow(end, nd, g.uni(20, 32), t.r[n-1]*0.72, t.hu, 1)
		}
	}
}
