package app

import (
	"fmt"
	"os"
	"path/filepath"

	"fyne.io/fyne/v2"

	"github.com/liverseg/liverseg/internal/prefstore"
)

// settingsFile is LiverSeg's own preferences file, beside Fyne's
// preferences.json in the app's configuration folder
// (~/.config/fyne/<AppID>/). Fyne rewrites its file in place, so a second
// instance starting during a save read it empty ("Preferences load error:
// EOF") and then saved its defaults over the first one's settings;
// prefstore replaces the file whole and merges (issue 13).
const settingsFile = "settings.json"

// openSettings opens the preferences store of the app a. The first time,
// the settings an earlier LiverSeg kept in Fyne's preferences are carried
// over. A store that cannot be read is reported on stderr and the app
// starts with defaults (the broken file is kept aside).
func openSettings(a fyne.App) *prefstore.Store {
	path := filepath.Join(a.Storage().RootURI().Path(), settingsFile)
	_, statErr := os.Stat(path)
	st, err := prefstore.Open(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "liverseg: %v\n", err)
	}
	st.OnError = func(err error) { fmt.Fprintf(os.Stderr, "liverseg: %v\n", err) }
	if os.IsNotExist(statErr) {
		migrateSettings(a.Preferences(), st)
	}
	return st
}

// migrateSettings copies the keys LiverSeg stored in Fyne's preferences.
func migrateSettings(from fyne.Preferences, to settings) {
	for _, k := range []string{prefOpenDir, prefExportDir, prefPreset, prefColor, prefRefColor} {
		if v := from.String(k); v != "" {
			to.SetString(k, v)
		}
	}
	for _, k := range []string{prefFill, prefOutline} {
		if from.BoolWithFallback(k, true) != from.BoolWithFallback(k, false) {
			continue // unset
		}
		to.SetBool(k, from.Bool(k))
	}
	if v := from.FloatWithFallback(prefOpacity, -1); v >= 0 {
		to.SetFloat(prefOpacity, v)
	}
	if v := from.Int(prefThreads); v != 0 {
		to.SetInt(prefThreads, v)
	}
}
