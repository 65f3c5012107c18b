package buildinfo

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestVersionIsFyneAppVersion keeps Version equal to FyneApp.toml's, which
// `fyne package` puts into the installed app's metadata.
func TestVersionIsFyneAppVersion(t *testing.T) {
	b, err := os.ReadFile("../../FyneApp.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*Version\s*=\s*"([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no Version in FyneApp.toml")
	}
	if string(m[1]) != Version {
		t.Errorf("FyneApp.toml Version %q, buildinfo.Version %q", m[1], Version)
	}
}

func TestSoftwareNamesVersion(t *testing.T) {
	if s := Software(); !strings.HasPrefix(s, "LiverSeg "+Version) {
		t.Errorf("Software() = %q, want it to start with %q", s, "LiverSeg "+Version)
	}
}
