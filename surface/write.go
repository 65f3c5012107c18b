package surface

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/liverseg/liverseg/internal/atomicfile"
)

// CoordinateNote is what every written file says about its coordinates.
// "SPACE=LPS" is the tag 3D Slicer reads from STL/OBJ headers to place a
// model without flipping it.
const CoordinateNote = "SPACE=LPS DICOM patient coordinates (x to patient Left, y Posterior, z Superior), millimetres"

// WriteOptions controls Write.
type WriteOptions struct {
	// Overwrite allows replacing an existing file.
	Overwrite bool
	// Name is written into the header (e.g. "liver, student").
	Name string
}

// Format is a mesh file format chosen from a file name.
type Format int

const (
	STL Format = iota + 1
	OBJ
)

// FormatOf returns the format of a file name by its extension (.stl or
// .obj, any case), or an error naming the file.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".stl":
		return STL, nil
	case ".obj":
		return OBJ, nil
	}
	return 0, fmt.Errorf("%s: a mesh file name must end in .stl (binary STL) or .obj (Wavefront OBJ)", path)
}

// Write writes m to path as binary STL or OBJ (by extension), atomically:
// a failure leaves nothing behind, and an existing file is replaced only
// with o.Overwrite.
func Write(path string, m *Mesh, o WriteOptions) error {
	f, err := FormatOf(path)
	if err != nil {
		return err
	}
	err = atomicfile.Write(path, atomicfile.Options{NoOverwrite: !o.Overwrite}, func(w io.Writer) error {
		if f == STL {
			return WriteSTL(w, m, o.Name)
		}
		return WriteOBJ(w, m, o.Name)
	})
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("surface: %s already exists; refusing to overwrite it", path)
	}
	if err != nil {
		return fmt.Errorf("surface: write %s: %w", path, err)
	}
	return nil
}

// WriteSTL writes binary STL: an 80-byte header (which must not start with
// "solid", or readers take it for ASCII STL), the triangle count, then per
// triangle its unit normal, three vertices and a zero attribute word.
func WriteSTL(w io.Writer, m *Mesh, name string) error {
	if len(m.Triangles) > math.MaxUint32 {
		return fmt.Errorf("%d triangles do not fit binary STL", len(m.Triangles))
	}
	var hdr [80]byte
	copy(hdr[:], "LiverSeg "+name+" "+CoordinateNote)
	for i := len("LiverSeg " + name + " " + CoordinateNote); i < 80; i++ {
		hdr[i] = ' '
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(hdr[:]); err != nil {
		return err
	}
	var rec [50]byte
	binary.LittleEndian.PutUint32(rec[:4], uint32(len(m.Triangles)))
	if _, err := bw.Write(rec[:4]); err != nil {
		return err
	}
	for _, t := range m.Triangles {
		a, b, c := m.Vertices[t[0]], m.Vertices[t[1]], m.Vertices[t[2]]
		n := triNormal(a, b, c)
		if l := float32(math.Sqrt(float64(n[0]*n[0] + n[1]*n[1] + n[2]*n[2]))); l > 0 {
			n = [3]float32{n[0] / l, n[1] / l, n[2] / l}
		}
		o := 0
		for _, v := range [4][3]float32{n, a, b, c} {
			for _, x := range v {
				binary.LittleEndian.PutUint32(rec[o:], math.Float32bits(x))
				o += 4
			}
		}
		rec[48], rec[49] = 0, 0
		if _, err := bw.Write(rec[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteOBJ writes Wavefront OBJ: comment lines with the coordinate system,
// "v x y z" per vertex and "f a b c" (1-based) per triangle.
func WriteOBJ(w io.Writer, m *Mesh, name string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintf(bw, "# LiverSeg surface %s\n# %s\n# %d vertices, %d triangles, counter-clockwise seen from outside\n", name, CoordinateNote, len(m.Vertices), len(m.Triangles))
	buf := make([]byte, 0, 64)
	for _, v := range m.Vertices {
		buf = append(buf[:0], 'v')
		for _, x := range v {
			buf = append(buf, ' ')
			buf = appendFloat(buf, x)
		}
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	for _, t := range m.Triangles {
		fmt.Fprintf(bw, "f %d %d %d\n", t[0]+1, t[1]+1, t[2]+1)
	}
	return bw.Flush()
}

// appendFloat writes x with 4 decimals (0.1 µm, below any CT
// resolution), trimmed of trailing zeros.
func appendFloat(b []byte, x float32) []byte {
	b = strconv.AppendFloat(b, float64(x), 'f', 4, 64)
	for len(b) > 0 && b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	return b
}
