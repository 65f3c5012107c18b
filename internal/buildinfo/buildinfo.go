// Package buildinfo says which LiverSeg this is: the release version (the
// one in FyneApp.toml) and, when Go recorded it, the source revision the
// binary was built from. Exports (DICOM SEG, reports, comparison files) and
// `liverseg --version` all name the software the same way.
package buildinfo

import "runtime/debug"

// Version is LiverSeg's release version; it is FyneApp.toml's [Details]
// Version (a test keeps the two equal).
const Version = "0.1.0"

// Full is Version with the source revision, when Go recorded one:
// "0.1.0 (abc1234)" or "0.1.0 (abc1234, modified)"; just "0.1.0" for a
// build without VCS information (go build -buildvcs=false, go test).
func Full() string {
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 7 {
			rev = rev[:7]
		}
		if rev != "" {
			if dirty {
				rev += ", modified"
			}
			v += " (" + rev + ")"
		}
	}
	return v
}

// Software is how files LiverSeg writes name it: "LiverSeg " + Full().
func Software() string { return "LiverSeg " + Full() }
