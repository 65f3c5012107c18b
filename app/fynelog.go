package app

import (
	"bytes"
	"io"
	"log"
	"os"
	"sync"
)

// quietFyneLog drops two harmless Fyne messages from stderr, where users
// took them for faults (issue 13), and passes everything else through:
//   - "Getting favorite locations": the file dialog looks up the XDG user
//     folders (Documents, Music, Videos, ...) and logs each one the system
//     does not define; the dialog works without them.
//   - "Preferences load error": Fyne re-reads its preferences.json when
//     another LiverSeg instance rewrites it in place, and may catch it
//     half-written. That file now holds only the file dialog's view choice;
//     LiverSeg's settings are in settings.json (settingsfile.go).
//
// Fyne's LogError writes the message, then "  Cause:" and "  At:" lines;
// the filter drops those with their message.
func quietFyneLog() {
	log.SetOutput(&fyneLogFilter{w: os.Stderr})
}

type fyneLogFilter struct {
	mu       sync.Mutex
	w        io.Writer
	dropping bool
}

var quietFyneMessages = [][]byte{[]byte("Fyne error:  Getting favorite locations"), []byte("Fyne error:  Preferences load error")}

func (f *fyneLogFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case bytes.Contains(p, []byte("Fyne error:")):
		f.dropping = false
		for _, m := range quietFyneMessages {
			if bytes.Contains(p, m) {
				f.dropping = true
			}
		}
	case f.dropping && (bytes.Contains(p, []byte("  Cause:")) || bytes.Contains(p, []byte("  At:"))):
	default:
		f.dropping = false
	}
	if f.dropping {
		return len(p), nil
	}
	return f.w.Write(p)
}
