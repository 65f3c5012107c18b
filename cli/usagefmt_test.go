package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestUsageFitsATerminal prints the command list and a usage error: no line
// is wider than 80 columns (issue 13: they ran past 200), and every word of
// every command's usage is still there, in order.
func TestUsageFitsATerminal(t *testing.T) {
	var all bytes.Buffer
	Usage(&all)
	var bad bytes.Buffer
	if code := Run([]string{"info"}, &bytes.Buffer{}, &bad); code != 2 {
		t.Fatalf("info without a path: exit status %d", code)
	}
	for _, tc := range []struct {
		name, out string
	}{{"command list", all.String()}, {"usage error", bad.String()}} {
		for _, l := range strings.Split(tc.out, "\n") {
			if n := len([]rune(l)); n > usageWidth {
				t.Errorf("%s: %d columns: %q", tc.name, n, l)
			}
		}
	}
	words := strings.Fields(all.String())
	for name, c := range commands {
		want := append([]string{"liverseg", name}, strings.Fields(c.Usage)...)
		at := 0
		for _, w := range want {
			for at < len(words) && words[at] != w {
				at++
			}
			if at == len(words) {
				t.Errorf("%s: %q missing from the command list (or out of order)", name, w)
				break
			}
		}
	}
	if !strings.Contains(bad.String(), "usage: liverseg info [--json]") {
		t.Errorf("usage error does not show the command's usage:\n%s", bad.String())
	}
}

// isReasonThenUsage reports whether stderr is one line naming the reason
// (containing want) followed only by the command's wrapped usage block.
func isReasonThenUsage(stderr, want string) bool {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) == 0 || !strings.Contains(lines[0], want) {
		return false
	}
	for i, l := range lines[1:] {
		if i == 0 && !strings.HasPrefix(l, "usage: ") {
			return false
		}
		if i > 0 && !strings.HasPrefix(l, "  ") {
			return false
		}
	}
	return true
}
