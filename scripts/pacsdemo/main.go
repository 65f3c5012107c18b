// Command pacsdemo (`make pacs-demo`) starts a local Orthanc DICOM archive
// with the DICOMweb plugin, stores the demo phantom study and the shared
// real cases in it, prints its URL and test user, and runs until Ctrl-C,
// when it stops the archive and removes its storage. It listens on
// loopback only (RemoteAccessAllowed false).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/liverseg/liverseg/internal/testsupport/orthanctest"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/phantom"
)

func main() {
	if ok, why := orthanctest.Available(); !ok {
		fmt.Fprintln(os.Stderr, "pacs-demo:", why)
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "liverseg-pacs-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pacs-demo:", err)
		os.Exit(2)
	}
	defer os.RemoveAll(dir)
	srv, err := orthanctest.StartIn(dir, orthanctest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pacs-demo: start orthanc:", err)
		os.Exit(2)
	}
	defer srv.Stop()
	ctx := context.Background()
	seed := func(what, folder string) {
		n, err := srv.UploadDir(ctx, folder)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pacs-demo: %s: %v\n", what, err)
			return
		}
		fmt.Printf("  stored %-28s %4d instances\n", what, n)
	}
	fmt.Println("pacs-demo: storing the studies…")
	if ph, err := phantom.Cached(1); err == nil {
		seed("demo phantom (seed 1)", filepath.Join(ph, phantom.DICOMDir))
	} else {
		fmt.Fprintln(os.Stderr, "pacs-demo: phantom:", err)
	}
	if root := shareddata.Root(); root != "" {
		// totalseg_example_dicom is left out: its anonymised files have no
		// UIDs, which an archive requires.
		for _, c := range []string{"chaos_ct01", "dcmqi_ct3slice"} {
			seed(c, filepath.Join(root, "cases", c, "dicom"))
		}
		for _, c := range []string{"ircad_p01"} {
			out := filepath.Join(dir, "converted", c)
			if err := orthanctest.WriteNIfTIAsDICOM(filepath.Join(root, "cases", c, "ct.nii.gz"), out, c); err != nil {
				fmt.Fprintf(os.Stderr, "pacs-demo: %s: %v\n", c, err)
				continue
			}
			seed(c+" (NIfTI written as DICOM)", out)
		}
	} else {
		fmt.Println("  (../shared/data is absent: only the phantom is stored)")
	}
	fmt.Printf(`
LiverSeg PACS demo: Orthanc with DICOMweb, on this machine only.
  DICOMweb URL  %s
  user          %s
  password      %s   (a test password for this throw-away archive)

In the app: File → PACS servers… → Add (basic authentication), then File → Find on PACS…
On the command line:
  LIVERSEG_PACS_PASSWORD='%s' liverseg pacs find --server %s --user %s

Ctrl-C stops the archive and deletes its storage.
`, srv.DICOMweb, srv.User, srv.Password, srv.Password, srv.DICOMweb, srv.User)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Println("pacs-demo: stopping")
}
