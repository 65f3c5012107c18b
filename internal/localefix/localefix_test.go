package localefix

import "testing"

func TestNeedsFix(t *testing.T) {
	tests := []struct {
		lcAll, lcMessages, lang string
		want                    bool
	}{
		{"", "", "C.UTF-8", true},
		{"", "", "C", true},
		{"", "", "POSIX", true},
		{"", "", "", true},
		{"", "", "en_US.UTF-8", false},
		{"", "", "de_DE.UTF-8", false},
		{"C", "", "C.UTF-8", false}, // the user forced C everywhere: leave it
		{"", "fr_FR.UTF-8", "C.UTF-8", false},
	}
	for _, tc := range tests {
		if got := needsFix(tc.lcAll, tc.lcMessages, tc.lang); got != tc.want {
			t.Errorf("needsFix(%q, %q, %q) = %v, want %v", tc.lcAll, tc.lcMessages, tc.lang, got, tc.want)
		}
	}
}
