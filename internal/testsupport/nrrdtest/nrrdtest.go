// Package nrrdtest reads the NRRD label maps that 3D Slicer and dcmqi write,
// for tests that compare DICOM SEG decoding with them. It is a test helper,
// not a general NRRD reader.
package nrrdtest

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

// ReadMask is a small reader for the NRRD files 3D Slicer writes (3-D,
// raw or gzip encoding, little endian, integer types, LPS space), enough to
// check SEG decoding against Slicer's own export of the same segmentation.
// Non-zero labels become 1. It fails the test on anything it does not read.
func ReadMask(t testing.TB, path string) *volume.Mask {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	fields := map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: header: %v", path, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "NRRD") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(strings.TrimPrefix(v, "="))
		}
	}
	if fields["dimension"] != "3" || fields["space"] != "left-posterior-superior" || (fields["endian"] != "" && fields["endian"] != "little") {
		t.Fatalf("%s: unsupported NRRD header %v", path, fields)
	}
	var g volume.Geometry
	for a, s := range strings.Fields(fields["sizes"]) {
		g.Size[a], _ = strconv.Atoi(s)
	}
	parseVec := func(s string) [3]float64 {
		var v [3]float64
		s = strings.Trim(s, "()")
		for a, x := range strings.Split(s, ",") {
			v[a], _ = strconv.ParseFloat(strings.TrimSpace(x), 64)
		}
		return v
	}
	g.Origin = parseVec(fields["space origin"])
	for a, s := range strings.Fields(fields["space directions"]) {
		d := parseVec(s)
		n := math.Sqrt(d[0]*d[0] + d[1]*d[1] + d[2]*d[2])
		g.Spacing[a] = n
		for r := 0; r < 3; r++ {
			g.Direction[r][a] = d[r] / n
		}
	}
	if err := g.Validate(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var r io.Reader = br
	switch fields["encoding"] {
	case "raw":
	case "gzip", "gz":
		zr, err := gzip.NewReader(br)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	default:
		t.Fatalf("%s: encoding %q not supported by the test reader", path, fields["encoding"])
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	bpv := map[string]int{"uchar": 1, "unsigned char": 1, "uint8": 1, "short": 2, "int16": 2, "ushort": 2, "unsigned short": 2}[fields["type"]]
	if bpv == 0 || len(body) != bpv*g.NumVoxels() {
		t.Fatalf("%s: type %q, %d bytes for %d voxels", path, fields["type"], len(body), g.NumVoxels())
	}
	m := volume.NewMask(g)
	for n := range m.Voxels {
		var x int
		if bpv == 1 {
			x = int(body[n])
		} else {
			x = int(binary.LittleEndian.Uint16(body[2*n:]))
		}
		if x != 0 {
			m.Voxels[n] = 1
		}
	}
	return m
}
