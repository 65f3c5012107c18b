//go:build tools

// This file pins the modules the packages of LiverSeg grow into, so that
// `go mod tidy` keeps them while those packages are being written.
package main

import (
	_ "fyne.io/fyne/v2/app"
	_ "fyne.io/fyne/v2/test"
	_ "github.com/disintegration/imaging"
	_ "github.com/suyashkumar/dicom"
	_ "github.com/yalue/onnxruntime_go"
	_ "gonum.org/v1/plot"
)
