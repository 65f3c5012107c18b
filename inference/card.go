package inference

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Card is a model card: the JSON file models/<name>.json that describes one
// exported network and everything needed to run it exactly as it was
// trained. Fields that LiverSeg does not interpret (training, evaluation)
// are kept raw so that the UI can show them.
type Card struct {
	Name     string  `json:"name"`
	Role     string  `json:"role"`   // teacher, assistant, student, ...
	ONNX     string  `json:"onnx"`   // file name, relative to the card
	SHA256   string  `json:"sha256"` // hex digest of the .onnx file
	Params   int64   `json:"params"`
	MACs     float64 `json:"macs"`
	MACsGrid [3]int  `json:"macs_grid"` // [Z,Y,X] the MACs were counted on
	Input    struct {
		Name string `json:"name"`
	} `json:"input"`
	Output struct {
		Name       string   `json:"name"`
		Kind       string   `json:"kind"`
		Channels   []string `json:"channels"`
		Activation string   `json:"activation"`
		// Temperature T calibrates the soft liver map: p = logistic((liver −
		// background logit) / T). T > 1 softens the near-binary maps, so the
		// trilinearly upsampled 0.5 level follows the network's logit field
		// between the 5 mm voxels instead of stepping halfway between them
		// (models/README.md, "Outline"). 0 (cards before it) means 1.
		Temperature float64 `json:"temperature,omitempty"`
	} `json:"output"`
	Preprocessing  Preprocessing   `json:"preprocessing"`
	Postprocessing Postprocessing  `json:"postprocessing"`
	Training       json.RawMessage `json:"training,omitempty"`
	Evaluation     json.RawMessage `json:"evaluation,omitempty"`
	License        string          `json:"license"`

	// Path is the absolute path of the card file (set by ReadCard).
	Path string `json:"-"`
}

// Preprocessing is how a CT volume becomes the network input.
type Preprocessing struct {
	Orientation   string     `json:"orientation"` // "LPS"
	SpacingMM     [3]float64 `json:"spacing_mm"`  // isotropic: all three equal
	Interpolation string     `json:"interpolation"`
	GridRule      string     `json:"grid_rule"`
	HUClip        [2]float64 `json:"hu_clip"`
	Normalize     struct {
		Center float64 `json:"center"`
		Scale  float64 `json:"scale"`
	} `json:"normalize"`
	SizeMultiple int     `json:"size_multiple"`
	Pad          string  `json:"pad"`       // "end"
	PadValue     float64 `json:"pad_value"` // in normalised units
}

// Postprocessing is the card's default way from probability to mask.
type Postprocessing struct {
	Resample         string  `json:"resample"`
	Threshold        float64 `json:"threshold"`
	LargestComponent bool    `json:"largest_component"`
	Connectivity     int     `json:"connectivity"`
	FillHoles        bool    `json:"fill_holes"`
}

// Temperature is the card's soft-map temperature (1 when the card has none).
func (c *Card) Temperature() float32 {
	if c.Output.Temperature == 0 {
		return 1
	}
	return float32(c.Output.Temperature)
}

// ONNXPath is the absolute path of the card's network file.
func (c *Card) ONNXPath() string { return filepath.Join(filepath.Dir(c.Path), c.ONNX) }

// ReadCard reads and validates one model card.
func ReadCard(path string) (*Card, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model card %s: %w", path, err)
	}
	var c Card
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("model card %s: not valid JSON: %w", path, err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	c.Path = path
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("model card %s: %w", path, err)
	}
	return &c, nil
}

// validate rejects a card this code cannot run faithfully, rather than
// running it with silently different preprocessing.
func (c *Card) validate() error {
	p := c.Preprocessing
	switch {
	case c.Name == "":
		return fmt.Errorf("no name")
	case c.ONNX == "" || filepath.Base(c.ONNX) != c.ONNX:
		return fmt.Errorf("onnx %q must be a plain file name beside the card", c.ONNX)
	case len(c.SHA256) != 64:
		return fmt.Errorf("sha256 %q is not a 64-digit hex digest", c.SHA256)
	case c.Input.Name == "" || c.Output.Name == "":
		return fmt.Errorf("input and output tensor names are required")
	case c.Output.Kind != "logits" || c.Output.Activation != "softmax":
		return fmt.Errorf("output kind %q with activation %q is not supported (want logits + softmax)", c.Output.Kind, c.Output.Activation)
	case c.Output.Temperature < 0 || math.IsNaN(c.Output.Temperature) || math.IsInf(c.Output.Temperature, 0):
		return fmt.Errorf("output temperature %v must be a positive number (or absent for 1)", c.Output.Temperature)
	case len(c.Output.Channels) != 2 || c.Output.Channels[1] != "liver":
		return fmt.Errorf("output channels %v: want [background liver]", c.Output.Channels)
	case p.Orientation != "" && p.Orientation != "LPS":
		return fmt.Errorf("orientation %q is not supported (want LPS)", p.Orientation)
	case p.Interpolation != "" && p.Interpolation != "trilinear":
		return fmt.Errorf("interpolation %q is not supported (want trilinear)", p.Interpolation)
	case p.Pad != "" && p.Pad != "end":
		return fmt.Errorf("pad %q is not supported (want end)", p.Pad)
	case !(p.HUClip[0] < p.HUClip[1]):
		return fmt.Errorf("hu_clip %v is not an increasing pair", p.HUClip)
	case !(p.Normalize.Scale != 0) || math.IsInf(p.Normalize.Scale, 0):
		return fmt.Errorf("normalize.scale %v must be non-zero", p.Normalize.Scale)
	case p.SizeMultiple < 1:
		return fmt.Errorf("size_multiple %d must be at least 1", p.SizeMultiple)
	}
	s := p.SpacingMM[0]
	if !(s > 0) || p.SpacingMM[1] != s || p.SpacingMM[2] != s {
		return fmt.Errorf("spacing_mm %v: want one positive isotropic spacing", p.SpacingMM)
	}
	if t := c.Postprocessing.Threshold; !(t > 0 && t < 1) {
		return fmt.Errorf("postprocessing.threshold %v is not in (0,1)", t)
	}
	if cn := c.Postprocessing.Connectivity; cn != 0 && cn != 6 {
		return fmt.Errorf("postprocessing.connectivity %d is not supported (want 6)", cn)
	}
	return nil
}

// ReadCards reads every *.json card in dir, sorted by name. A file that is
// not a valid card is an error naming it: a broken models folder should be
// noticed, not half-used.
func ReadCards(dir string) ([]*Card, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("models folder %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("models folder: %w", err)
	}
	var cards []*Card
	seen := map[string]string{}
	for _, f := range files {
		if !looksLikeCard(f) {
			continue // another JSON file (a results table, a manifest)
		}
		c, err := ReadCard(f)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[c.Name]; dup {
			return nil, fmt.Errorf("models folder %s: model name %q used by both %s and %s", dir, c.Name, prev, f)
		}
		seen[c.Name] = f
		cards = append(cards, c)
	}
	sort.Slice(cards, func(i, j int) bool { return cards[i].Name < cards[j].Name })
	return cards, nil
}

// normalizedHex lowercases a digest for comparison.
func normalizedHex(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// looksLikeCard reports whether a JSON file claims to be a model card (has
// an "onnx" key); such a file must then be valid.
func looksLikeCard(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return true // let ReadCard report the error
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return true
	}
	_, ok := m["onnx"]
	return ok
}
