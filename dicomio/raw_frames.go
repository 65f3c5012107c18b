package dicomio

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// rawFrames reads every frame of one greyscale image file as stored values
// (unsigned bit patterns, before masking, sign and rescale), native or
// compressed. It is what the codec tests compare byte for byte with
// dcmtk/GDCM decompressions, and what the fuzz targets drive.
func rawFrames(path string) (*fileInfo, [][]uint16, error) {
	fi, err := readHeader(path)
	if err != nil {
		return nil, nil, err
	}
	if why := fi.notPixels(); why != "" {
		return fi, nil, fmt.Errorf("%s: %s", path, why)
	}
	if fi.Frames > maxFrames || int64(fi.Frames)*int64(fi.Rows)*int64(fi.Cols)*2 > maxVolumeBytes {
		return fi, nil, fmt.Errorf("%s: %d frames of %dx%d are beyond the limits", path, fi.Frames, fi.Cols, fi.Rows)
	}
	f, err := os.Open(path)
	if err != nil {
		return fi, nil, err
	}
	defer f.Close()
	var src io.ReaderAt = f
	size := fi.size
	if fi.lay.deflated {
		_, ds, err := readLayout(f, size)
		if err != nil {
			return fi, nil, err
		}
		src, size = bytes.NewReader(ds), int64(len(ds))
	}
	frames, err := decodeAllFrames(fi, src, size)
	return fi, frames, err
}

func decodeAllFrames(fi *fileInfo, src io.ReaderAt, size int64) ([][]uint16, error) {
	np := fi.Rows * fi.Cols
	n := max(fi.Frames, 1)
	out := make([][]uint16, n)
	if fi.lay.pixLen < 0 {
		if fi.BitsAllocated > 16 {
			return nil, fmt.Errorf("%s: compressed %d-bit samples are not supported", fi.Path, fi.BitsAllocated)
		}
		fx, err := indexFrames(src, size, fi.lay, fi.lay.ts, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fi.Path, err)
		}
		for k := range out {
			data, err := fx.frameBytes(src, k)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fi.Path, err)
			}
			out[k] = make([]uint16, np)
			if _, err := decodeFrame(fi.lay.ts, data, fi.Cols, fi.Rows, fi.BitsAllocated, out[k]); err != nil {
				return nil, fmt.Errorf("%s frame %d: %w", fi.Path, k+1, err)
			}
		}
		return out, nil
	}
	bpp := fi.BitsAllocated / 8
	if bpp != 1 && bpp != 2 {
		return nil, fmt.Errorf("%s: native %d-bit samples are not read as raw frames", fi.Path, fi.BitsAllocated)
	}
	frameLen := int64(np * bpp)
	if int64(n)*frameLen > fi.lay.pixLen {
		return nil, fmt.Errorf("%s: pixel data holds %d bytes, %d frame(s) need %d", fi.Path, fi.lay.pixLen, n, int64(n)*frameLen)
	}
	b := make([]byte, frameLen)
	for k := range out {
		if err := readFull(src, b, fi.lay.pixOff+int64(k)*frameLen, size); err != nil {
			return nil, fmt.Errorf("%s: %w", fi.Path, err)
		}
		out[k] = make([]uint16, np)
		for i := range out[k] {
			if bpp == 1 {
				out[k][i] = uint16(b[i])
			} else {
				out[k][i] = fi.lay.sx.bo.Uint16(b[2*i:])
			}
		}
	}
	return out, nil
}
