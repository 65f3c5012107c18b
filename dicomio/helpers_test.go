package dicomio

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

const python = "/usr/bin/python3"

// readNIfTIWithNibabel reads a NIfTI file through nibabel (an independent
// implementation, also independent of this project's nifti package) and
// returns it as a Volume in LPS.
func readNIfTIWithNibabel(t testing.TB, path string) *volume.Volume {
	t.Helper()
	shape, a, vox := niiDump(t, path)
	for c := 0; c < 4; c++ { // RAS → LPS
		a[0][c], a[1][c] = -a[0][c], -a[1][c]
	}
	g, err := volume.FromAffineLPS(shape, a)
	if err != nil {
		t.Fatal(err)
	}
	v := volume.New(g)
	copy(v.Voxels, vox)
	return v
}

// niiDump reads a NIfTI file through nibabel: its shape, its affine as
// stored (RAS), and its first volume as int16, x fastest. It keeps the
// affine as is, even when it is not a rotation times a scaling.
func niiDump(t testing.TB, path string) ([3]int, [4][4]float64, []int16) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s is absent: cannot cross-check against nibabel", python)
	}
	if err := exec.Command(python, "-c", "import nibabel").Run(); err != nil {
		t.Skipf("nibabel is not importable by %s: cannot cross-check", python)
	}
	raw := filepath.Join(t.TempDir(), "voxels.raw")
	out, err := exec.Command(python, filepath.Join("testdata", "niidump.py"), path, raw).Output()
	if err != nil {
		t.Fatalf("niidump %s: %v", path, err)
	}
	var hdr struct {
		Shape  []int
		Affine [4][4]float64
	}
	if err := json.Unmarshal(out, &hdr); err != nil {
		t.Fatalf("niidump output %q: %v", out, err)
	}
	size := [3]int{1, 1, 1}
	copy(size[:], hdr.Shape)
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	n := size[0] * size[1] * size[2]
	if len(b) != 2*n {
		t.Fatalf("nibabel dump has %d bytes, want %d", len(b), 2*n)
	}
	vox := make([]int16, n)
	for i := range vox {
		vox[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return size, hdr.Affine, vox
}

// compareWorld checks that two volumes hold the same voxels at the same
// world positions, after reorienting both to canonical LPS index order.
// checkK=false compares only the in-plane axes and origin plus the k
// direction (for series whose slice step the tools define differently).
func compareWorld(t *testing.T, name string, got, want *volume.Volume, tol float64, checkK bool) {
	t.Helper()
	g, w := got.Canonical(), want.Canonical()
	if g.Size != w.Size {
		t.Fatalf("%s: size %v, reference %v", name, g.Size, w.Size)
	}
	ag, aw := g.AffineLPS(), w.AffineLPS()
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			if c == 2 && !checkK {
				continue
			}
			if d := ag[r][c] - aw[r][c]; d > tol || d < -tol {
				t.Errorf("%s: affine[%d][%d] = %.6f, reference %.6f", name, r, c, ag[r][c], aw[r][c])
			}
		}
	}
	for r := 0; r < 3; r++ {
		if d := g.Direction[r][2] - w.Direction[r][2]; d > 1e-4 || d < -1e-4 {
			t.Errorf("%s: slice direction %v, reference %v", name, g.Direction, w.Direction)
			break
		}
	}
	bad := 0
	for i := range g.Voxels {
		if g.Voxels[i] != w.Voxels[i] {
			if bad < 5 {
				t.Errorf("%s: voxel %d = %d, reference %d", name, i, g.Voxels[i], w.Voxels[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d voxels differ", name, bad, len(g.Voxels))
	}
}
