// Package dicomio finds, groups and loads DICOM image series, and writes
// volumes back as DICOM.
//
// Reading is two-step, as in a DICOM browser: Scan walks files and folders,
// reads headers only and groups image files into Series (by
// SeriesInstanceUID, or by study, orientation, matrix and spacing when UIDs
// are missing), each sorted along its slice normal, with localizers flagged
// and geometry problems (uneven spacing, missing slices, gantry tilt,
// duplicates) stated in Series.Warnings. Load then reads one series' pixels
// in parallel into a volume.Volume in Hounsfield units. LoadPath does both
// for the largest series.
//
// Headers are decoded by github.com/suyashkumar/dicom. Pixels are not: that
// library reads native pixels one sample at a time into []int, ignores
// PixelRepresentation and RescaleSlope/Intercept, and only decodes baseline
// JPEG. This package locates the Pixel Data element itself and converts the
// raw words straight into int16 HU, honouring PixelRepresentation,
// BitsStored/HighBit and the rescale per file.
//
// Supported transfer syntaxes: implicit and explicit VR little endian,
// explicit VR big endian, deflated explicit VR little endian and baseline
// JPEG (8-bit). Others (JPEG lossless, JPEG-LS, JPEG 2000, RLE) are scanned
// and listed but Load returns "FILE: transfer syntax UID (name) is not
// supported yet".
//
// Nothing here writes into the folders it reads.
package dicomio
