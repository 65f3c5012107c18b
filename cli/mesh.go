package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/liverseg/liverseg/surface"
)

func init() {
	Register(Command{
		Name:  "mesh",
		Usage: "[--model NAME | --mask MASK.nii.gz|SEG.dcm] --out FILE.stl|FILE.obj [--raw] [--force] PATH   write the liver surface (closed, outward-wound triangles) as binary STL or OBJ in patient LPS millimetres (x Left, y Posterior, z Superior; stated in the file header as SPACE=LPS)",
		Run:   runMesh,
	})
}

func runMesh(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("mesh", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	out := fset.String("out", "", "output mesh: .stl (binary STL) or .obj (Wavefront OBJ)")
	raw := fset.Bool("raw", false, "keep the voxel staircase (no smoothing): encloses exactly the mask's voxels")
	force := fset.Bool("force", false, "replace OUT if it exists")
	lf := addLiverFlags(fset)
	path, err := parseOnePath(fset, args)
	if err != nil {
		return err
	}
	switch {
	case *out == "":
		return &UsageError{Msg: "--out is required"}
	}
	if err := lf.check(); err != nil {
		return err
	}
	if _, err := surface.FormatOf(*out); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if err := checkOut(*out, *force); err != nil {
		return err
	}
	_, m, src, err := lf.load(ctx, "mesh", path, stderr)
	if err != nil {
		return err
	}
	o := surface.Options{Smooth: -1}
	if *raw {
		o.Smooth = 0
	}
	mesh, err := surface.Extract(m, o)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if err := surface.Write(*out, mesh, surface.WriteOptions{Overwrite: *force, Name: "liver"}); err != nil {
		return err
	}
	lo, hi := mesh.Bounds()
	fmt.Fprintf(stdout, "wrote %s: liver surface from %s, %d vertices, %d triangles, closed; encloses %.1f mL (mask %.1f mL); LPS mm, box (%.1f, %.1f, %.1f)–(%.1f, %.1f, %.1f)\n",
		*out, src, len(mesh.Vertices), len(mesh.Triangles), mesh.VolumeMM3()/1000, m.VolumeML(), lo[0], lo[1], lo[2], hi[0], hi[1], hi[2])
	return nil
}

func dirOf(p string) string { return filepath.Dir(p) }
