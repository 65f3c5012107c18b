// Package localefix stops Fyne from logging "Error parsing user locale C"
// on machines whose locale is C or POSIX (for example LANG=C.UTF-8, the
// default of many containers and CI machines). Fyne reads the locale in a
// package init, so the fix must run in an init that comes first: a package
// with no dependencies beyond the standard library is initialised before
// Fyne's lang package, whose dependencies include golang.org/x/text.
//
// It only sets LC_MESSAGES (the language of messages), and only when the
// user chose no real language, so number formats and collation are untouched.
package localefix

import (
	"os"
	"strings"
)

func init() {
	if needsFix(os.Getenv("LC_ALL"), os.Getenv("LC_MESSAGES"), os.Getenv("LANG")) {
		os.Setenv("LC_MESSAGES", "en_US.UTF-8")
	}
}

// needsFix reports whether the locale Fyne would read (LC_ALL, then
// LC_MESSAGES, then LANG) is unset or the C/POSIX locale.
func needsFix(lcAll, lcMessages, lang string) bool {
	if lcAll != "" || lcMessages != "" {
		return false
	}
	base, _, _ := strings.Cut(lang, ".")
	return lang == "" || base == "C" || base == "POSIX"
}
