package pacs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSecretNotInCrashOutput re-runs this test binary as a child that
// panics in the middle of a retrieval (in the progress callback, with the
// client and its secret live on the stack) with GOTRACEBACK=all, and
// checks that neither the panic message, the stack trace, nor a %v or %#v
// of the client carries the password.
func TestSecretNotInCrashOutput(t *testing.T) {
	if os.Getenv("LIVERSEG_PACS_CRASH_URL") != "" {
		crashChild()
		return
	}
	srv := seeded(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestSecretNotInCrashOutput$")
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all", "LIVERSEG_PACS_CRASH_URL="+srv.DICOMweb,
		"LIVERSEG_PACS_CRASH_USER="+srv.User)
	// The password reaches the child on stdin, like a keyring read, so
	// that it is not in the child's environment dump either.
	cmd.Stdin = strings.NewReader(srv.Password)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "panic: deliberate crash") || !strings.Contains(string(out), "goroutine") {
		t.Fatalf("the child did not crash as planned: %v\n%s", err, out)
	}
	if strings.Contains(string(out), srv.Password) {
		t.Fatalf("crash output carries the password:\n%s", out)
	}
	if !strings.Contains(string(out), "pacs.Client(test archive)") {
		t.Errorf("the child's %%v of the client is missing:\n%s", out)
	}
}

func crashChild() {
	var b strings.Builder
	buf := make([]byte, 256)
	n, _ := os.Stdin.Read(buf)
	b.Write(buf[:n])
	c, err := NewClient(Server{Name: "test archive", URL: os.Getenv("LIVERSEG_PACS_CRASH_URL"), Auth: AuthBasic,
		User: os.Getenv("LIVERSEG_PACS_CRASH_USER")}, b.String())
	if err != nil {
		panic(err)
	}
	fmt.Printf("client %v %#v %+v\n", c, c, c)
	cache := &Cache{Root: os.TempDir() + "/liverseg-crash-child"}
	defer os.RemoveAll(cache.Root)
	c.Retrieve(context.Background(), cache, chaosStudy, chaosSeries, func(p Progress) {
		if p.Done >= 3 {
			panic("deliberate crash")
		}
	})
}
