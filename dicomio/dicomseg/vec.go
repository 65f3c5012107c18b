package dicomseg

import "github.com/liverseg/liverseg/dicomio/internal/dsbuild"

// The 3-vector helpers of seg.go, shared with dicomio's writers (kept
// under seg.go's own names, which it had inside dicomio).
var (
	dotVec   = dsbuild.Dot
	crossVec = dsbuild.Cross
	unitVec  = dsbuild.Unit
)
