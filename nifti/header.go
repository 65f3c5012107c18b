// Package nifti reads and writes NIfTI-1 images (.nii and .nii.gz), the
// format research tools (nibabel, ITK, 3D Slicer, dcm2niix, FSL) exchange CT
// volumes and label maps in.
//
// NIfTI stores an index→world affine in RAS+ millimetres (+x towards the
// patient's Right, +y Anterior, +z Superior); LiverSeg's volume package works
// in DICOM LPS (+x Left, +y Posterior). The two differ only in the sign of the
// first two world axes, so reading negates rows 0 and 1 of the NIfTI affine
// and writing negates them back.
//
// Reading accepts every common scalar datatype and converts it to the int16
// (volumes) or uint8 (masks) that LiverSeg keeps in memory, applying
// scl_slope/scl_inter. Writing always produces int16 volumes and uint8 masks
// with both sform and qform set (code 1, scanner), so every reader finds the
// same geometry whichever of the two it prefers.
package nifti

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// headerSize is sizeof_hdr of a NIfTI-1 header; the 4 bytes after it are the
// extension flag, so voxel data of a single-file image starts at 352 or later.
const headerSize = 348

// minVoxOffset is the smallest vox_offset of a single-file (.nii) image.
const minVoxOffset = 352

// NIfTI-1 datatype codes (nifti1.h).
const (
	dtUint8   = 2
	dtInt16   = 4
	dtInt32   = 8
	dtFloat32 = 16
	dtFloat64 = 64
	dtInt8    = 256
	dtUint16  = 512
	dtUint32  = 768
	dtInt64   = 1024
	dtUint64  = 1280
)

// datatypeName names the datatype codes for error messages, including the
// ones LiverSeg cannot convert to a scalar CT.
var datatypeName = map[int16]string{
	0: "unknown", 1: "binary", dtUint8: "uint8", dtInt16: "int16", dtInt32: "int32",
	dtFloat32: "float32", 32: "complex64", dtFloat64: "float64", 128: "RGB24",
	dtInt8: "int8", dtUint16: "uint16", dtUint32: "uint32", dtInt64: "int64",
	dtUint64: "uint64", 1536: "float128", 1792: "complex128", 2048: "complex256",
	2304: "RGBA32",
}

// bytesPerVoxel gives the storage size of the supported datatypes.
var bytesPerVoxel = map[int16]int{
	dtUint8: 1, dtInt8: 1, dtInt16: 2, dtUint16: 2, dtInt32: 4, dtUint32: 4,
	dtFloat32: 4, dtFloat64: 8, dtInt64: 8, dtUint64: 8,
}

func dtName(dt int16) string {
	if n, ok := datatypeName[dt]; ok {
		return n
	}
	return fmt.Sprintf("code %d", dt)
}

// Units (xyzt_units) and transform codes used when writing.
const (
	unitsMM      = 2
	xformScanner = 1
)

// header is the subset of the 348-byte NIfTI-1 header LiverSeg uses, in
// file order. Fields not listed are written as zero.
type header struct {
	SizeofHdr  int32
	Dim        [8]int16
	Datatype   int16
	Bitpix     int16
	Pixdim     [8]float32
	VoxOffset  float32
	SclSlope   float32
	SclInter   float32
	XYZTUnits  uint8
	CalMax     float32
	CalMin     float32
	Descrip    [80]byte
	QformCode  int16
	SformCode  int16
	QuaternB   float32
	QuaternC   float32
	QuaternD   float32
	QoffsetX   float32
	QoffsetY   float32
	QoffsetZ   float32
	SrowX      [4]float32
	SrowY      [4]float32
	SrowZ      [4]float32
	Magic      [4]byte
	order      binary.ByteOrder // byte order of the file it came from
	extensions bool             // extension flag byte 348 was non-zero
}

// Byte offsets of the fields in the NIfTI-1 header (nifti1.h).
const (
	offSizeofHdr = 0
	offDim       = 40
	offDatatype  = 70
	offBitpix    = 72
	offPixdim    = 76
	offVoxOffset = 108
	offSclSlope  = 112
	offSclInter  = 116
	offXYZTUnits = 123
	offCalMax    = 124
	offCalMin    = 128
	offDescrip   = 148
	offQformCode = 252
	offSformCode = 254
	offQuaternB  = 256
	offSrowX     = 280
	offMagic     = 344
)

// parseHeader decodes the first 348 (or more) bytes of a NIfTI file. The byte
// order is whichever makes sizeof_hdr equal 348, as the standard prescribes.
func parseHeader(b []byte) (*header, error) {
	if len(b) < headerSize {
		return nil, fmt.Errorf("file is %d bytes, shorter than the %d-byte NIfTI-1 header", len(b), headerSize)
	}
	h := &header{}
	switch {
	case binary.LittleEndian.Uint32(b) == headerSize:
		h.order = binary.LittleEndian
	case binary.BigEndian.Uint32(b) == headerSize:
		h.order = binary.BigEndian
	case binary.LittleEndian.Uint32(b) == 540 || binary.BigEndian.Uint32(b) == 540:
		return nil, fmt.Errorf("NIfTI-2 header (sizeof_hdr 540) is not supported; save the image as NIfTI-1")
	default:
		return nil, fmt.Errorf("not a NIfTI-1 file: sizeof_hdr is %d, not 348", int32(binary.LittleEndian.Uint32(b)))
	}
	o := h.order
	f32 := func(off int) float32 { return math.Float32frombits(o.Uint32(b[off:])) }
	i16 := func(off int) int16 { return int16(o.Uint16(b[off:])) }
	h.SizeofHdr = headerSize
	for i := range h.Dim {
		h.Dim[i] = i16(offDim + 2*i)
	}
	h.Datatype = i16(offDatatype)
	h.Bitpix = i16(offBitpix)
	for i := range h.Pixdim {
		h.Pixdim[i] = f32(offPixdim + 4*i)
	}
	h.VoxOffset = f32(offVoxOffset)
	h.SclSlope = f32(offSclSlope)
	h.SclInter = f32(offSclInter)
	h.XYZTUnits = b[offXYZTUnits]
	h.CalMax = f32(offCalMax)
	h.CalMin = f32(offCalMin)
	copy(h.Descrip[:], b[offDescrip:])
	h.QformCode = i16(offQformCode)
	h.SformCode = i16(offSformCode)
	h.QuaternB = f32(offQuaternB)
	h.QuaternC = f32(offQuaternB + 4)
	h.QuaternD = f32(offQuaternB + 8)
	h.QoffsetX = f32(offQuaternB + 12)
	h.QoffsetY = f32(offQuaternB + 16)
	h.QoffsetZ = f32(offQuaternB + 20)
	for i := 0; i < 4; i++ {
		h.SrowX[i] = f32(offSrowX + 4*i)
		h.SrowY[i] = f32(offSrowX + 16 + 4*i)
		h.SrowZ[i] = f32(offSrowX + 32 + 4*i)
	}
	copy(h.Magic[:], b[offMagic:])
	if len(b) > headerSize {
		h.extensions = b[headerSize] != 0
	}
	switch {
	case bytes.Equal(h.Magic[:], []byte("n+1\x00")):
	case bytes.Equal(h.Magic[:], []byte("ni1\x00")):
		return nil, fmt.Errorf("two-file NIfTI (.hdr/.img pair, magic \"ni1\") is not supported; use a single .nii or .nii.gz")
	default:
		return nil, fmt.Errorf("bad NIfTI-1 magic %q (want \"n+1\"): not a NIfTI-1 file or an ANALYZE 7.5 header", string(bytes.TrimRight(h.Magic[:], "\x00")))
	}
	return h, nil
}

// encode writes the header and a zero extension flag: 352 bytes, little
// endian, ready to be followed by voxel data at vox_offset 352.
func (h *header) encode() []byte {
	b := make([]byte, minVoxOffset)
	o := binary.LittleEndian
	p32 := func(off int, v float32) { o.PutUint32(b[off:], math.Float32bits(v)) }
	p16 := func(off int, v int16) { o.PutUint16(b[off:], uint16(v)) }
	o.PutUint32(b[offSizeofHdr:], headerSize)
	b[38] = 'r' // "regular": ANALYZE readers expect it
	for i, d := range h.Dim {
		p16(offDim+2*i, d)
	}
	p16(offDatatype, h.Datatype)
	p16(offBitpix, h.Bitpix)
	for i, p := range h.Pixdim {
		p32(offPixdim+4*i, p)
	}
	p32(offVoxOffset, h.VoxOffset)
	p32(offSclSlope, h.SclSlope)
	p32(offSclInter, h.SclInter)
	b[offXYZTUnits] = h.XYZTUnits
	p32(offCalMax, h.CalMax)
	p32(offCalMin, h.CalMin)
	copy(b[offDescrip:offDescrip+80], h.Descrip[:])
	p16(offQformCode, h.QformCode)
	p16(offSformCode, h.SformCode)
	p32(offQuaternB, h.QuaternB)
	p32(offQuaternB+4, h.QuaternC)
	p32(offQuaternB+8, h.QuaternD)
	p32(offQuaternB+12, h.QoffsetX)
	p32(offQuaternB+16, h.QoffsetY)
	p32(offQuaternB+20, h.QoffsetZ)
	for i := 0; i < 4; i++ {
		p32(offSrowX+4*i, h.SrowX[i])
		p32(offSrowX+16+4*i, h.SrowY[i])
		p32(offSrowX+32+4*i, h.SrowZ[i])
	}
	copy(b[offMagic:], h.Magic[:])
	return b
}
