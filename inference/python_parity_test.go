package inference

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/nifti"
)

// debianPython is the interpreter that has the Debian python3-torch package;
// the python3 on PATH may be another one without it.
const debianPython = "/usr/bin/python3"

// minPythonDice is how closely the Go/ONNX Runtime pipeline must reproduce
// the reference Python/PyTorch pipeline on a real case. Both follow the
// same contract, so the only differences are float rounding (ORT vs torch
// kernels) flipping voxels whose probability is within ~1e-5 of 0.5.
const minPythonDice = 0.995

// TestPythonPipelineAgreesOnRealCase runs the reference Python pipeline
// (models/training/segment_case.py: the PyTorch network rebuilt from its
// checkpoint plus lsdata.py's pre/postprocessing) and the Go registry on the
// same real CT, and requires the two masks to agree. The synthetic parity
// fixtures check each step on a small phantom; this checks the whole chain
// on a full-size clinical volume.
func TestPythonPipelineAgreesOnRealCase(t *testing.T) {
	if out, err := exec.Command(debianPython, "-c", "import torch, nibabel, scipy").CombinedOutput(); err != nil {
		t.Skipf("%s lacks torch/nibabel/scipy (apt install python3-torch python3-nibabel python3-scipy): %v: %s",
			debianPython, err, strings.TrimSpace(string(out)))
	}
	ct := shareddata.Path(t, "cases", "chaos_ct01", "ct.nii.gz")
	root := moduleRoot(t)
	script := filepath.Join(root, "models", "training", "segment_case.py")

	v, err := nifti.Read(ct)
	if err != nil {
		t.Fatal(err)
	}
	requireRuntime(t)
	// Two threads on both sides: the machine is shared, and equal budgets
	// make the logged timings comparable.
	r, err := OpenRegistry(filepath.Join(root, "models"), RegistryOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	for _, name := range []string{"student", "teacher"} {
		t.Run(name, func(t *testing.T) {
			c, err := r.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, "models", "training", "checkpoints", name+".pt")); err != nil {
				t.Fatalf("the reference pipeline needs the checkpoint: %v", err)
			}

			out := filepath.Join(t.TempDir(), name+"_mask.nii.gz")
			start := time.Now()
			cmd := exec.Command(debianPython, script, "--model", name, "--ct", ct, "--out", out, "--threads", "2")
			b, err := cmd.CombinedOutput()
			pyTime := time.Since(start)
			if err != nil {
				t.Fatalf("%s: %v\n%s", script, err, b)
			}
			py, err := nifti.ReadMask(out)
			if err != nil {
				t.Fatal(err)
			}

			start = time.Now()
			res, err := r.Run(context.Background(), v, name, c.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			goTime := time.Since(start)

			// Both masks must sit on the CT's own grid, not merely on each other's.
			if py.Size != v.Size || !py.Geometry.SameGridWithin(v.Geometry, 1e-3) {
				t.Fatalf("Python mask grid (size %v spacing %v origin %v) is not the CT's (size %v spacing %v origin %v)",
					py.Size, py.Spacing, py.Origin, v.Size, v.Spacing, v.Origin)
			}
			if res.Mask.Size != v.Size || !res.Mask.Geometry.SameGridWithin(v.Geometry, 1e-3) {
				t.Fatalf("Go mask grid (size %v origin %v) is not the CT's (size %v origin %v)",
					res.Mask.Size, res.Mask.Origin, v.Size, v.Origin)
			}
			npy, ngo, diff := 0, 0, 0
			for i, p := range py.Voxels {
				g := res.Mask.Voxels[i]
				if p != 0 {
					npy++
				}
				if g != 0 {
					ngo++
				}
				if (p != 0) != (g != 0) {
					diff++
				}
			}
			if npy == 0 {
				t.Fatalf("the Python pipeline found no liver in %s: the comparison would prove nothing", ct)
			}
			d, err := metrics.Dice(py, res.Mask)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s on chaos_ct01 %v: Dice(Python, Go) = %.6f; liver voxels Python %d, Go %d, differing %d; "+
				"Python %.2fs (process incl. start-up; %s), Go Run %.2fs",
				name, v.Size, d, npy, ngo, diff, pyTime.Seconds(), strings.TrimSpace(string(b)), goTime.Seconds())
			if d < minPythonDice {
				t.Errorf("%s: Dice(Python, Go) = %.6f < %.3f: the Go pipeline no longer reproduces the reference",
					name, d, minPythonDice)
			}
		})
	}
}
