package inference

import (
	"fmt"
	"os"
	"path/filepath"
)

// ModelsEnv names the models folder explicitly.
const ModelsEnv = "LIVERSEG_MODELS"

// FindModelsDir returns the folder holding the model cards: $LIVERSEG_MODELS
// when set; else a folder named models beside the executable or in any
// folder above it (bin/liverseg → models/); else models/ at the module
// root above the working directory (go run, go test).
func FindModelsDir() (string, error) {
	if d := os.Getenv(ModelsEnv); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return "", fmt.Errorf("%s=%q is not a folder", ModelsEnv, d)
		}
		return d, nil
	}
	roots := searchRoots()
	for _, r := range roots {
		d := filepath.Join(r, "models")
		if cards, _ := filepath.Glob(filepath.Join(d, "*.json")); len(cards) > 0 {
			return d, nil
		}
	}
	return "", fmt.Errorf("no models folder with model cards found beside the program or in the source tree; pass --models DIR or set %s", ModelsEnv)
}
