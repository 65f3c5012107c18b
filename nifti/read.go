package nifti

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/liverseg/liverseg/volume"
)

// Limits on what Read and ReadMask accept, so that a corrupt or hostile
// header cannot make LiverSeg allocate more memory than a laptop has.
const (
	// MaxVoxels is the largest number of voxels in one image (2^31).
	MaxVoxels = 1 << 31
	// MaxBytes is the largest in-memory size of the decoded image: 4 GiB
	// (a 2^31-voxel int16 volume).
	MaxBytes = 4 << 30
)

// maxDeflateRatio bounds how much deflate can expand its input (1032:1 is
// the format's theoretical maximum). A .nii.gz smaller than its declared
// voxel data divided by this cannot be complete, which lets Read reject a
// truncated file before allocating memory for it.
const maxDeflateRatio = 1032

// IsNIfTI reports whether path names a NIfTI-1 file by its extension (.nii
// or .nii.gz, any letter case).
func IsNIfTI(path string) bool {
	p := strings.ToLower(path)
	return strings.HasSuffix(p, ".nii") || strings.HasSuffix(p, ".nii.gz")
}

// Read loads a NIfTI-1 image (.nii, or gzip-compressed .nii.gz, detected by
// its magic bytes rather than its name) as an int16 volume in LPS geometry.
//
// Voxels of any common datatype (uint8, int8, int16, uint16, int32, uint32,
// int64, uint64, float32, float64) are scaled by scl_slope/scl_inter (when
// slope is neither 0 nor NaN), rounded to the nearest integer and clamped to
// the int16 range; clamped and NaN voxels are counted in Info.Warnings.
// Geometry comes from the sform when sform_code > 0, else from the qform,
// else from pixdim alone (with a warning that position is unknown).
func Read(path string) (*volume.Volume, error) {
	img, err := readFile(path, false)
	if err != nil {
		return nil, err
	}
	v := &volume.Volume{Geometry: img.geom, Voxels: img.i16}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	v.Info.Source = abs
	v.Info.Warnings = img.warnings
	return v, nil
}

// ReadMask loads a NIfTI-1 label image. Voxel values (after scl_slope and
// scl_inter, rounded) are kept as uint8 labels: 0 is background, any other
// value is a label. A value outside 0..255 is an error, as it means the file
// is not a label map (for instance a CT chosen by mistake).
func ReadMask(path string) (*volume.Mask, error) {
	img, err := readFile(path, true)
	if err != nil {
		return nil, err
	}
	return &volume.Mask{Geometry: img.geom, Voxels: img.u8}, nil
}

// image is what decode produces: geometry plus voxels of one of two types.
type image struct {
	geom     volume.Geometry
	i16      []int16
	u8       []uint8
	warnings []string
}

func readFile(path string, mask bool) (*image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nifti: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("nifti: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("nifti: %s is a folder, not a NIfTI file", path)
	}
	img, err := decode(f, st.Size(), mask)
	if err != nil {
		return nil, fmt.Errorf("nifti: %s: %w", path, err)
	}
	return img, nil
}

// decode reads a whole NIfTI-1 stream of the given on-disk size (used to
// reject truncated files before allocating) into an int16 volume or, when
// mask is set, a uint8 label image.
func decode(r io.Reader, size int64, mask bool) (*image, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var src io.Reader = br
	compressed := false
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("bad gzip header: %w", err)
		}
		defer gz.Close()
		src, compressed = gz, true
	}
	hb := make([]byte, minVoxOffset)
	n, err := io.ReadFull(src, hb)
	if n < headerSize {
		if err != nil && !isEOF(err) {
			return nil, readErr(err, compressed)
		}
		return nil, fmt.Errorf("truncated: %d bytes, shorter than the %d-byte NIfTI-1 header", n, headerSize)
	}
	h, err := parseHeader(hb[:n])
	if err != nil {
		return nil, err
	}
	img := &image{}
	img.geom, img.warnings, err = h.geometry()
	if err != nil {
		return nil, err
	}
	bpv, ok := bytesPerVoxel[h.Datatype]
	if !ok {
		return nil, fmt.Errorf("unsupported datatype %s: LiverSeg reads scalar integer and float images only", dtName(h.Datatype))
	}
	nvox := int64(img.geom.NumVoxels())
	outBytes := nvox * 2
	if mask {
		outBytes = nvox
	}
	if outBytes > MaxBytes {
		return nil, fmt.Errorf("image of %d×%d×%d voxels needs %.1f GiB, more than the %d GiB limit",
			img.geom.Size[0], img.geom.Size[1], img.geom.Size[2], float64(outBytes)/(1<<30), MaxBytes>>30)
	}
	// vox_offset is a float in the header. Single-file images keep the data
	// at 352 or later; older writers left it 0, which means 352.
	vo := float64(h.VoxOffset)
	if math.IsNaN(vo) || vo < 0 || vo > 1<<30 {
		return nil, fmt.Errorf("vox_offset %v is not a valid data offset", h.VoxOffset)
	}
	off := int64(vo)
	if off < minVoxOffset {
		off = minVoxOffset
	}
	dataBytes := nvox * int64(bpv)
	need := off + dataBytes
	if !compressed && size >= 0 && size < need {
		return nil, fmt.Errorf("truncated: header declares %d×%d×%d %s voxels (%d bytes from offset %d) but the file has %d bytes",
			img.geom.Size[0], img.geom.Size[1], img.geom.Size[2], dtName(h.Datatype), dataBytes, off, size)
	}
	if compressed && size >= 0 && size*maxDeflateRatio+4096 < need {
		return nil, fmt.Errorf("truncated: header declares %d bytes of voxel data but a %d-byte gzip file cannot hold that much",
			dataBytes, size)
	}
	// Skip the extensions between the header and the voxel data.
	if skip := off - minVoxOffset; skip > 0 {
		if m, err := io.CopyN(io.Discard, src, skip); err != nil {
			if isEOF(err) {
				return nil, fmt.Errorf("truncated: ends %d bytes into the %d bytes of header extensions", m, skip)
			}
			return nil, readErr(err, compressed)
		}
	}
	conv := newConverter(h, bpv)
	if mask {
		img.u8 = make([]uint8, nvox)
	} else {
		img.i16 = make([]int16, nvox)
	}
	// Convert in chunks so that the raw bytes never need a second full-size
	// buffer: peak memory is the decoded image plus 1 MiB.
	chunk := make([]byte, (1<<20)/8*8)
	per := len(chunk) / bpv
	for done := int64(0); done < nvox; {
		cnt := min(int64(per), nvox-done)
		b := chunk[:cnt*int64(bpv)]
		if m, err := io.ReadFull(src, b); err != nil {
			if isEOF(err) {
				got := done*int64(bpv) + int64(m)
				return nil, fmt.Errorf("truncated: voxel data ends after %d of %d bytes (%.1f%%)",
					got, dataBytes, 100*float64(got)/float64(dataBytes))
			}
			return nil, readErr(err, compressed)
		}
		if mask {
			if err := conv.toUint8(img.u8[done:done+cnt], b); err != nil {
				return nil, err
			}
		} else {
			conv.toInt16(img.i16[done:done+cnt], b)
		}
		done += cnt
	}
	if compressed {
		// Read what follows the voxels (normally just the gzip trailer) so
		// that a corrupted file fails its CRC check instead of loading
		// silently with wrong voxels.
		// Bytes after the gzip stream that are not another gzip member
		// (ErrHeader) are ignored, as gunzip does.
		_, err := io.CopyN(io.Discard, src, 1<<20)
		switch {
		case err == nil, err == io.EOF, errors.Is(err, gzip.ErrHeader):
		case errors.Is(err, gzip.ErrChecksum):
			return nil, fmt.Errorf("corrupt gzip data: checksum mismatch")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("truncated: the gzip stream ends without its trailer, so the voxels cannot be verified")
		default:
			return nil, readErr(err, true)
		}
	}
	img.warnings = append(img.warnings, conv.warnings()...)
	return img, nil
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// readErr explains a read failure; inside a .nii.gz most failures mean the
// compressed stream is damaged.
func readErr(err error, compressed bool) error {
	if compressed {
		return fmt.Errorf("corrupt gzip data: %w", err)
	}
	return fmt.Errorf("read error: %w", err)
}

// geometry derives the LPS voxel grid from the header: sform if its code is
// set and it is usable, else qform, else pixdim alone.
func (h *header) geometry() (volume.Geometry, []string, error) {
	var warn []string
	nd := int(h.Dim[0])
	if nd < 1 || nd > 7 {
		return volume.Geometry{}, nil, fmt.Errorf("dim[0] = %d is not a number of dimensions (1 to 7)", nd)
	}
	size := [3]int{1, 1, 1}
	total := int64(1)
	for i := 1; i <= nd; i++ {
		d := int64(h.Dim[i])
		if d < 1 {
			return volume.Geometry{}, nil, fmt.Errorf("dim[%d] = %d: every dimension must be at least 1", i, d)
		}
		total *= d
		if i <= 3 {
			size[i-1] = int(d)
		} else if d != 1 {
			return volume.Geometry{}, nil, fmt.Errorf("%dD image (dim[%d] = %d): LiverSeg reads single 3D volumes only", nd, i, d)
		}
	}
	if total > MaxVoxels {
		return volume.Geometry{}, nil, fmt.Errorf("image of %d×%d×%d voxels exceeds the limit of %d voxels", size[0], size[1], size[2], int64(MaxVoxels))
	}
	switch h.XYZTUnits & 7 {
	case 1:
		warn = append(warn, "NIfTI xyzt_units says metres; coordinates are treated as millimetres, as nibabel and most viewers do")
	case 3:
		warn = append(warn, "NIfTI xyzt_units says micrometres; coordinates are treated as millimetres, as nibabel and most viewers do")
	}
	if h.SformCode > 0 {
		ras := [4][4]float64{
			{float64(h.SrowX[0]), float64(h.SrowX[1]), float64(h.SrowX[2]), float64(h.SrowX[3])},
			{float64(h.SrowY[0]), float64(h.SrowY[1]), float64(h.SrowY[2]), float64(h.SrowY[3])},
			{float64(h.SrowZ[0]), float64(h.SrowZ[1]), float64(h.SrowZ[2]), float64(h.SrowZ[3])},
			{0, 0, 0, 1},
		}
		g, err := fromRAS(size, ras)
		if err == nil {
			return g, warn, nil
		}
		warn = append(warn, fmt.Sprintf("NIfTI sform is unusable (%v); geometry taken from the qform or voxel sizes", err))
	}
	if h.QformCode > 0 {
		qfac := 1.0
		if h.Pixdim[0] < 0 {
			qfac = -1
		}
		ras := quaternToMat(float64(h.QuaternB), float64(h.QuaternC), float64(h.QuaternD),
			float64(h.QoffsetX), float64(h.QoffsetY), float64(h.QoffsetZ),
			float64(h.Pixdim[1]), float64(h.Pixdim[2]), float64(h.Pixdim[3]), qfac)
		g, err := fromRAS(size, ras)
		if err == nil {
			return g, warn, nil
		}
		warn = append(warn, fmt.Sprintf("NIfTI qform is unusable (%v); geometry taken from the voxel sizes", err))
	}
	// Method 1 of the NIfTI standard (as nifti1_io and ITK do it): axes along
	// RAS, scaled by pixdim, voxel (0,0,0) at the world origin.
	ras := [4][4]float64{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}
	badSpacing := false
	for a := 0; a < 3; a++ {
		p := math.Abs(float64(h.Pixdim[a+1]))
		if !(p > 0) || math.IsInf(p, 0) {
			p, badSpacing = 1, true
		}
		ras[a][a] = p
	}
	warn = append(warn, "NIfTI file has neither sform nor qform: patient position and orientation are unknown (RAS axes at the origin assumed)")
	if badSpacing {
		warn = append(warn, "NIfTI pixdim holds zero or invalid voxel sizes; 1 mm assumed for them")
	}
	g, err := fromRAS(size, ras)
	return g, warn, err
}

// fromRAS turns a NIfTI (RAS) index→world affine into LPS geometry.
func fromRAS(size [3]int, ras [4][4]float64) (volume.Geometry, error) {
	lps := ras
	for c := 0; c < 4; c++ {
		lps[0][c], lps[1][c] = -ras[0][c], -ras[1][c]
	}
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			if math.IsNaN(lps[r][c]) || math.IsInf(lps[r][c], 0) {
				return volume.Geometry{}, fmt.Errorf("affine holds a non-finite value")
			}
		}
	}
	g, err := volume.FromAffineLPS(size, lps)
	if err != nil {
		return volume.Geometry{}, err
	}
	if err := g.Validate(); err != nil {
		return volume.Geometry{}, err
	}
	return g, nil
}

// converter turns raw voxel bytes into int16 or uint8, applying the
// header's scaling and counting values that had to be changed.
type converter struct {
	order        binary.ByteOrder
	dt           int16
	bpv          int
	scaled       bool
	slope, inter float64
	clamped, nan int64
	buf          []float64
}

func newConverter(h *header, bpv int) *converter {
	c := &converter{order: h.order, dt: h.Datatype, bpv: bpv, slope: 1}
	// scl_slope 0 or NaN means "no scaling" (nibabel and nifti1_io agree).
	s, i := float64(h.SclSlope), float64(h.SclInter)
	if s != 0 && !math.IsNaN(s) && !math.IsInf(s, 0) {
		if math.IsNaN(i) || math.IsInf(i, 0) {
			i = 0
		}
		if s != 1 || i != 0 {
			c.scaled, c.slope, c.inter = true, s, i
		}
	}
	return c
}

// floats decodes b into c.buf as float64 values (before scaling).
func (c *converter) floats(b []byte) []float64 {
	n := len(b) / c.bpv
	if cap(c.buf) < n {
		c.buf = make([]float64, n)
	}
	f := c.buf[:n]
	o := c.order
	switch c.dt {
	case dtUint8:
		for i := range f {
			f[i] = float64(b[i])
		}
	case dtInt8:
		for i := range f {
			f[i] = float64(int8(b[i]))
		}
	case dtInt16:
		for i := range f {
			f[i] = float64(int16(o.Uint16(b[2*i:])))
		}
	case dtUint16:
		for i := range f {
			f[i] = float64(o.Uint16(b[2*i:]))
		}
	case dtInt32:
		for i := range f {
			f[i] = float64(int32(o.Uint32(b[4*i:])))
		}
	case dtUint32:
		for i := range f {
			f[i] = float64(o.Uint32(b[4*i:]))
		}
	case dtFloat32:
		for i := range f {
			f[i] = float64(math.Float32frombits(o.Uint32(b[4*i:])))
		}
	case dtFloat64:
		for i := range f {
			f[i] = math.Float64frombits(o.Uint64(b[8*i:]))
		}
	case dtInt64:
		for i := range f {
			f[i] = float64(int64(o.Uint64(b[8*i:])))
		}
	case dtUint64:
		for i := range f {
			f[i] = float64(o.Uint64(b[8*i:]))
		}
	}
	if c.scaled {
		for i, x := range f {
			f[i] = x*c.slope + c.inter
		}
	}
	return f
}

// toInt16 converts one chunk. int16 data without scaling, by far the most
// common CT layout, takes a direct path.
func (c *converter) toInt16(dst []int16, b []byte) {
	if c.dt == dtInt16 && !c.scaled {
		for i := range dst {
			dst[i] = int16(c.order.Uint16(b[2*i:]))
		}
		return
	}
	for i, x := range c.floats(b) {
		switch {
		case math.IsNaN(x):
			dst[i] = 0
			c.nan++
		case x < math.MinInt16-0.5:
			dst[i] = math.MinInt16
			c.clamped++
		case x >= math.MaxInt16+0.5:
			dst[i] = math.MaxInt16
			c.clamped++
		default:
			dst[i] = int16(math.Round(x))
		}
	}
}

// toUint8 converts one chunk of a label image; values outside 0..255 mean
// the file is not a label map.
func (c *converter) toUint8(dst []uint8, b []byte) error {
	if c.dt == dtUint8 && !c.scaled {
		copy(dst, b)
		return nil
	}
	for i, x := range c.floats(b) {
		switch {
		case math.IsNaN(x):
			dst[i] = 0
			c.nan++
		case x <= -0.5 || x >= 255.5:
			return fmt.Errorf("voxel value %g is not a label (0 to 255): not a label image", x)
		default:
			dst[i] = uint8(math.Round(x))
		}
	}
	return nil
}

func (c *converter) warnings() []string {
	var w []string
	if c.nan > 0 {
		w = append(w, fmt.Sprintf("%d voxels were NaN (not a number) and were set to 0", c.nan))
	}
	if c.clamped > 0 {
		w = append(w, fmt.Sprintf("%d voxels were outside the int16 range and were clamped to −32768…32767", c.clamped))
	}
	return w
}
