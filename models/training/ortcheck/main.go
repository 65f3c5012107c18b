//go:build ortcheck

// Command ortcheck runs LiverSeg ONNX models in ONNX Runtime, compares with the
// parity logits written by models/training/parity.py, and times a forward
// pass at [1,1,48,80,80]. Build tag ortcheck keeps it out of `go build ./...`:
//
//	go run -tags ortcheck ./models/training/ortcheck models models/parity [dump-dir]
//
// With dump-dir it also writes <model>_ort_logits.f32 there, for
// parity.py --check-ort.
package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

func readF32(p string) []float32 {
	b, err := os.ReadFile(p)
	if err != nil {
		log.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func run(model string, shape []int64, in []float32, threads int) ([]float32, time.Duration) {
	opts, _ := ort.NewSessionOptions()
	defer opts.Destroy()
	opts.SetIntraOpNumThreads(threads)
	opts.SetInterOpNumThreads(1)
	it, _ := ort.NewTensor(ort.NewShape(shape...), in)
	defer it.Destroy()
	oshape := append([]int64{1, 2}, shape[2:]...)
	ot, _ := ort.NewEmptyTensor[float32](ort.NewShape(oshape...))
	defer ot.Destroy()
	s, err := ort.NewAdvancedSession(model, []string{"ct"}, []string{"logits"}, []ort.Value{it}, []ort.Value{ot}, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Destroy()
	if err := s.Run(); err != nil {
		log.Fatal(err)
	}
	best := time.Hour
	for r := 0; r < 5; r++ {
		t := time.Now()
		s.Run()
		if d := time.Since(t); d < best {
			best = d
		}
	}
	return append([]float32(nil), ot.GetData()...), best
}

func main() {
	modelsDir, parityDir := os.Args[1], os.Args[2]
	ort.SetSharedLibraryPath(os.Getenv("LIVERSEG_ORT_LIB"))
	if err := ort.InitializeEnvironment(); err != nil {
		log.Fatal(err)
	}
	var meta struct {
		Preprocessed struct{ Shape []int64 } `json:"preprocessed"`
		Models       map[string]struct {
			Logits string `json:"logits"`
		} `json:"models"`
	}
	b, _ := os.ReadFile(filepath.Join(parityDir, "input.json"))
	json.Unmarshal(b, &meta)
	x := readF32(filepath.Join(parityDir, "preprocessed.f32"))
	big := make([]float32, 48*80*80)
	for i := range big {
		big[i] = float32(math.Sin(float64(i)*0.001)) * 0.5
	}
	for _, name := range []string{"teacher", "assistant", "student", "student100k"} {
		mp := filepath.Join(modelsDir, name+".onnx")
		if _, err := os.Stat(mp); err != nil {
			continue
		}
		got, _ := run(mp, meta.Preprocessed.Shape, x, 2)
		if len(os.Args) > 3 { // dump the ORT logits for parity.py --check-ort
			buf := make([]byte, 4*len(got))
			for i, v := range got {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
			}
			if err := os.WriteFile(filepath.Join(os.Args[3], name+"_ort_logits.f32"), buf, 0o644); err != nil {
				log.Fatal(err)
			}
		}
		want := readF32(filepath.Join(parityDir, meta.Models[name].Logits))
		maxd := 0.0
		for i := range got {
			maxd = math.Max(maxd, math.Abs(float64(got[i]-want[i])))
		}
		_, t2 := run(mp, []int64{1, 1, 48, 80, 80}, big, 2)
		_, t1 := run(mp, []int64{1, 1, 48, 80, 80}, big, 1)
		fmt.Printf("%s: max|ORT-torch| logits %.2e; ORT CPU 48x80x80: %.1f ms (2 threads), %.1f ms (1 thread)\n", name, maxd, t2.Seconds()*1000, t1.Seconds()*1000)
	}
}
