// Package dsbuild builds the datasets LiverSeg writes (CT series, SEG,
// Secondary Capture): an element collector that keeps tags in order, the
// file meta header and character set rule they share, the UIDs LiverSeg
// derives, and the value formats (DS, DA) the writers need. It is internal
// to dicomio so that dicomio and dicomio/dicomseg write with one set of
// rules.
package dsbuild

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// ExplicitVRLittleEndian is the transfer syntax every written file uses.
const ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"

// ImplementationVersion names this writer in every file's meta header
// (File Meta Information, SH: at most 16 characters).
const ImplementationVersion = "LIVERSEG_1"

// ImplementationClassUID identifies LiverSeg as the implementation that
// wrote a file. It is derived like every other LiverSeg UID, so it is stable.
var ImplementationClassUID = HashUID("liverseg", "implementation-class")

// Elems collects elements, remembering the first error, and returns them
// sorted by tag (dicom.Write keeps the order it is given, and the standard
// requires ascending tags in every dataset and sequence item).
type Elems struct {
	els []*dicom.Element
	// Err is the first error met while adding elements.
	Err error
}

// Add adds element t with data (see dicom.NewElement).
func (e *Elems) Add(t tag.Tag, data any) {
	el, err := dicom.NewElement(t, data)
	if err != nil {
		if e.Err == nil {
			e.Err = fmt.Errorf("element %v: %w", t, err)
		}
		return
	}
	e.els = append(e.els, el)
}

// Str adds a string-valued element.
func (e *Elems) Str(t tag.Tag, s ...string) { e.Add(t, s) }

// TextCharset is the SpecificCharacterSet the given texts need: "" while
// they are ASCII, else UTF-8 (ISO_IR 192), which covers all.
func TextCharset(texts ...string) string {
	for _, s := range texts {
		if strings.IndexFunc(s, func(c rune) bool { return c > 0x7e }) >= 0 {
			return "ISO_IR 192"
		}
	}
	return ""
}

// Header starts a single-instance object LiverSeg writes (SEG, Secondary
// Capture): the file meta information in explicit VR little endian, then
// the character set when charset is not "".
func (e *Elems) Header(sopClass, sopUID, charset string) {
	e.Add(tag.FileMetaInformationVersion, []byte{0, 1})
	e.Str(tag.MediaStorageSOPClassUID, sopClass)
	e.Str(tag.MediaStorageSOPInstanceUID, sopUID)
	e.Str(tag.TransferSyntaxUID, ExplicitVRLittleEndian)
	e.Str(tag.ImplementationClassUID, ImplementationClassUID)
	e.Str(tag.ImplementationVersionName, ImplementationVersion)
	if charset != "" {
		e.Str(tag.SpecificCharacterSet, charset)
	}
}

// Seq adds a sequence whose items are built by the given functions.
func (e *Elems) Seq(t tag.Tag, items ...func(*Elems)) {
	var out [][]*dicom.Element
	for _, fill := range items {
		var it Elems
		fill(&it)
		if it.Err != nil && e.Err == nil {
			e.Err = it.Err
		}
		out = append(out, it.Sorted())
	}
	e.Add(t, out)
}

// Sorted returns the elements in ascending tag order.
func (e *Elems) Sorted() []*dicom.Element {
	sort.SliceStable(e.els, func(a, b int) bool {
		ta, tb := e.els[a].Tag, e.els[b].Tag
		if ta.Group != tb.Group {
			return ta.Group < tb.Group
		}
		return ta.Element < tb.Element
	})
	return e.els
}

// Code is a code sequence item (value, coding scheme, meaning) for Seq.
func Code(value, scheme, meaning string) func(*Elems) {
	return func(e *Elems) {
		e.Str(tag.CodeValue, value)
		e.Str(tag.CodingSchemeDesignator, scheme)
		e.Str(tag.CodeMeaning, meaning)
	}
}

// ClipLO shortens s to the 64 characters a DICOM LO value may hold.
func ClipLO(s string) string {
	r := []rune(s)
	if len(r) <= 64 {
		return s
	}
	return string(r[:64])
}

// HashUID derives a DICOM UID from text: "2.25." followed by the decimal
// value of a name-based UUID (version 8, RFC 9562) made from the SHA-256 of
// the parts. The same parts always give the same UID, and different parts
// give different UIDs with overwhelming probability.
func HashUID(parts ...string) string {
	h := sha256.New()
	for _, s := range parts {
		// Length-prefix each part so ("ab","c") and ("a","bc") differ.
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	sum := h.Sum(nil)
	return uuidUID(sum[:16], 8)
}

// RandomUID returns a fresh "2.25." UID from a random (version 4) UUID.
func RandomUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms; fall back to
		// a hash of the time-independent process state rather than panic.
		return HashUID("random-fallback", strconv.Itoa(os.Getpid()))
	}
	return uuidUID(b[:], 4)
}

// uuidUID stamps the UUID version and variant into b and renders it as a
// 2.25 UID (ISO/IEC 9834-8): the UUID as one unsigned decimal integer.
func uuidUID(b []byte, version byte) string {
	u := make([]byte, 16)
	copy(u, b)
	u[6] = u[6]&0x0f | version<<4
	u[8] = u[8]&0x3f | 0x80
	return "2.25." + new(big.Int).SetBytes(u).String()
}

// FormatDS renders x as a DICOM Decimal String (at most 16 characters),
// with as many significant digits as fit.
func FormatDS(x float64) string {
	if x == 0 || math.Abs(x) < 1e-12 {
		return "0"
	}
	if s := strconv.FormatFloat(x, 'f', -1, 64); len(s) <= 16 {
		return s
	}
	for prec := 15; prec > 0; prec-- {
		s := strconv.FormatFloat(x, 'g', prec, 64)
		if len(s) <= 16 {
			return s
		}
	}
	return strconv.FormatFloat(x, 'e', 6, 64)
}

// IsDate tells whether s is a DICOM date (DA): YYYYMMDD digits.
func IsDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// FirstNonEmpty is the first of s that is not "".
func FirstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Dot is the dot product of two 3-vectors.
func Dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

// Cross is the cross product a×b.
func Cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

// Unit is a scaled to length 1 (a itself when it is zero).
func Unit(a [3]float64) [3]float64 {
	n := math.Sqrt(Dot(a, a))
	if n == 0 {
		return a
	}
	return [3]float64{a[0] / n, a[1] / n, a[2] / n}
}
