package render3d

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/cputime"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/surface"
	"github.com/liverseg/liverseg/volume"
)

func ball(t testing.TB, c Vec, r float64) *surface.Mesh {
	g := volume.Identity([3]int{80, 80, 80}, [3]float64{1, 1, 1})
	m := volume.NewMask(g)
	for k := 0; k < 80; k++ {
		for j := 0; j < 80; j++ {
			for i := 0; i < 80; i++ {
				p := g.IndexToPatient([3]float64{float64(i), float64(j), float64(k)})
				if math.Hypot(math.Hypot(p[0]-c[0], p[1]-c[1]), p[2]-c[2]) <= r {
					m.Voxels[g.Offset(i, j, k)] = 1
				}
			}
		}
	}
	mesh, err := surface.Extract(m, surface.Options{Smooth: -1})
	if err != nil {
		t.Fatal(err)
	}
	return mesh
}

// Each standard view looks from its side: picking the image centre finds
// the sphere's point on that side, and the near half is drawn, not the far.
func TestViewsAndPick(t *testing.T) {
	c := Vec{40, 40, 40}
	const r = 25.0
	mesh := ball(t, c, r)
	lo, hi := mesh.Bounds()
	want := map[View]Vec{
		Anterior: {0, -r, 0}, Posterior: {0, r, 0},
		Left: {r, 0, 0}, Right: {-r, 0, 0},
		Superior: {0, 0, r}, Inferior: {0, 0, -r},
	}
	var rd Renderer
	img := image.NewRGBA(image.Rect(0, 0, 200, 160))
	bg := color.NRGBA{10, 20, 30, 255}
	for v := Anterior; v <= Inferior; v++ {
		var cam Camera
		cam.SetView(v)
		cam.Fit(lo, hi, 200, 160)
		rd.Render(img, cam, bg, []Layer{{Mesh: mesh, Color: color.NRGBA{200, 120, 100, 255}}}, nil)
		p, ok := rd.Pick(cam, 100, 80)
		if !ok {
			t.Fatalf("view %s: nothing at the centre", v.Letter())
		}
		d := Vec{p[0] - c[0], p[1] - c[1], p[2] - c[2]}
		w := want[v]
		if math.Hypot(math.Hypot(d[0]-w[0], d[1]-w[1]), d[2]-w[2]) > 2 {
			t.Errorf("view %s: picked %v from the centre, want %v", v.Letter(), d, w)
		}
		if px := img.RGBAAt(100, 80); px.R < 100 {
			t.Errorf("view %s: centre pixel %v is not lit", v.Letter(), px)
		}
		if px := img.RGBAAt(2, 2); px.R != bg.R || px.G != bg.G {
			t.Errorf("view %s: corner %v is not the background", v.Letter(), px)
		}
	}
	// Anterior view: the patient's left (+x) is on screen right.
	var cam Camera
	cam.SetView(Anterior)
	cam.Fit(lo, hi, 200, 160)
	if x, _, _ := cam.Project(Vec{c[0] + 10, c[1], c[2]}, 200, 160); x <= 100 {
		t.Errorf("anterior view: patient left at x=%.0f, want right of centre", x)
	}
	// A quarter turn to the right from the front shows the patient's left side... the scene turns, the camera follows.
	cam.Rotate(math.Pi/2, 0)
	rd.Render(img, cam, bg, []Layer{{Mesh: mesh, Color: color.NRGBA{200, 120, 100, 255}}}, nil)
	if p, ok := rd.Pick(cam, 100, 80); !ok || math.Abs(math.Abs(p[0]-c[0])-r) > 2 {
		t.Errorf("after a quarter turn the centre shows %v (ok %v); want a point on the left or right side", p, ok)
	}
}

func BenchmarkFrameRealLiver(b *testing.B) {
	m, err := nifti.ReadMask(shareddata.Path(b, "cases", "ircad_p01", "liver.nii.gz"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		factor [3]int
		w, h   int
	}{
		{"display-mesh-tab-700x450", [3]int{2, 2, 1}, 700, 450},
		{"display-mesh-window-900x720", [3]int{2, 2, 1}, 900, 720},
		{"turning-mesh-window-900x720", [3]int{4, 4, 2}, 900, 720},
	} {
		b.Run(bc.name, func(b *testing.B) {
			mesh, err := surface.Extract(m, surface.Options{Smooth: -1, Factor: bc.factor})
			if err != nil {
				b.Fatal(err)
			}
			normals := mesh.Normals()
			lo, hi := mesh.Bounds()
			img := image.NewRGBA(image.Rect(0, 0, bc.w, bc.h))
			var cam Camera
			cam.SetView(Anterior)
			cam.Fit(lo, hi, bc.w, bc.h)
			var rd Renderer
			b.ReportMetric(float64(len(mesh.Triangles)), "triangles")
			done := cputime.Measure(b)
			for i := 0; i < b.N; i++ {
				cam.Rotate(0.05, 0.01) // one step of a drag
				rd.Render(img, cam, color.NRGBA{20, 20, 30, 255}, []Layer{{Mesh: mesh, Normals: normals, Color: color.NRGBA{200, 120, 100, 255}}}, nil)
			}
			done()
		})
	}
}
