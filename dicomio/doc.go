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
// BitsStored/HighBit and the rescale per file (per frame for enhanced
// objects).
//
// # Transfer syntaxes
//
// Native: implicit and explicit VR little endian, explicit VR big endian,
// deflated explicit VR little endian. Compressed, by the decoders
// registered per transfer syntax (RegisterDecoder); those needing C
// libraries live in dicomio/codec, which a program imports to link them:
// JPEG baseline, extended 12-bit, the retired spectral/progressive
// processes and lossless (process 14, every predictor, and SV1) with GDCM's
// IJG libraries (libgdcmjpeg8/12/16); JPEG-LS lossless and near-lossless
// with CharLS; JPEG 2000 lossless and lossy, and HTJ2K, with OpenJPEG; RLE
// Lossless in pure Go, always registered. A file whose decoder is not
// linked is refused naming the file and its transfer syntax. Building
// dicomio/codec needs libgdcm-dev, libcharls-dev and
// libopenjp2-7-dev (scripts/setup.sh). Encapsulated frames are found from
// the Extended Offset Table, else the Basic Offset Table, else one fragment
// per frame, else codestream start markers, so frames split into several
// fragments load with or without an offset table. Colour images and
// compressed samples wider than 16 bits are listed as skipped.
//
// # Multi-frame objects
//
// Enhanced CT/MR (and any multi-frame image with per-frame functional
// groups) contribute one slice per frame, each placed by its Plane Position
// and Plane Orientation and rescaled by its Pixel Value Transformation (per
// frame, else shared). Series.Files then repeats the file name and
// Series.Frames gives the frame of each slice.
//
// # Geometry
//
// The loaded grid is always orthogonal (row, column and slice normal).
// Stacks that are not regular on it are resampled by Load as dcm2niix does,
// and say so in Info.Warnings: a gantry-tilted stack is shifted slice by
// slice along the in-plane axes onto an enlarged grid (linear
// interpolation, the border filled with the darkest value); unevenly spaced
// stacks and stacks with missing slices are resampled to equidistant slices
// (linear interpolation between neighbours). Resampled volumes carry no
// SOPInstanceUIDs, since their slices come from no single image.
//
// # Hostile input
//
// Every file either joins a series or is listed in Catalog.Skipped with a
// one-line reason; nothing panics (a panic while reading one file becomes
// its reason) and nothing hangs: a file's header gets at most
// perFileTimeout (10 s), a slice's decoding at most perSliceTimeout (60 s).
// Files that are not regular (named pipes, devices) are never opened.
// Allocations are bounded before they are made: a loaded volume may hold at
// most 2 GiB of int16 voxels (maxVolumeBytes: 1 Gi voxels, e.g.
// 1024×1024×1024), a file at most 65536 frames, a header before Pixel Data
// at most 64 MiB, a deflated dataset at most 2 GiB once inflated (and at
// most 64 MiB plus 64 times its compressed size), a compressed frame at most
// 1 GiB; each codec checks the frame's own dimensions against
// Rows/Columns before it allocates for them.
//
// Nothing here writes into the folders it reads.
package dicomio
