package pacs

// Saved servers and their secrets. The list (name, URL, auth kind, user,
// CA file) is a plain JSON file in the user's configuration folder, shared
// by the app and the command line; passwords and tokens never go there:
// they live in the desktop keyring (Secret Service on Linux, through
// github.com/zalando/go-keyring), or, where no keyring is running, in a
// separate file readable only by the user (0600), and the UI says which.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/zalando/go-keyring"

	"github.com/liverseg/liverseg/internal/atomicfile"
)

// ConfigDir is os.UserConfigDir()/liverseg.
func ConfigDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration folder: %w", err)
	}
	return filepath.Join(d, "liverseg"), nil
}

// ServerList is the saved servers, persisted in a JSON file.
type ServerList struct {
	Path    string
	Servers []Server
}

// LoadServers reads the list at path (none yet: an empty list).
func LoadServers(path string) (*ServerList, error) {
	l := &ServerList{Path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the PACS server list %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &l.Servers); err != nil {
		return nil, fmt.Errorf("read the PACS server list %s: %v", path, err)
	}
	return l, nil
}

// DefaultServerList is ConfigDir()/pacs-servers.json.
func DefaultServerList() (*ServerList, error) {
	d, err := ConfigDir()
	if err != nil {
		return nil, err
	}
	return LoadServers(filepath.Join(d, "pacs-servers.json"))
}

// Find returns the saved server of that name.
func (l *ServerList) Find(name string) (Server, bool) {
	for _, s := range l.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return Server{}, false
}

// Put adds s or replaces the server named old ("" to add) and saves.
func (l *ServerList) Put(old string, s Server) error {
	s.Name = strings.TrimSpace(s.Name)
	s.URL = strings.TrimSpace(s.URL)
	if s.Name == "" {
		return errors.New("the server needs a name")
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("server %q: %w", s.Name, err)
	}
	if s.Auth == "" {
		s.Auth = AuthNone
	}
	out := l.Servers[:0:0]
	for _, x := range l.Servers {
		if x.Name == s.Name && x.Name != old {
			return fmt.Errorf("a server named %q exists already", s.Name)
		}
		if x.Name != old {
			out = append(out, x)
		}
	}
	out = append(out, s)
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	l.Servers = out
	return l.save()
}

// Remove deletes the server named name and saves.
func (l *ServerList) Remove(name string) error {
	out := l.Servers[:0:0]
	for _, x := range l.Servers {
		if x.Name != name {
			out = append(out, x)
		}
	}
	l.Servers = out
	return l.save()
}

func (l *ServerList) save() error {
	if err := os.MkdirAll(filepath.Dir(l.Path), 0o700); err != nil {
		return fmt.Errorf("save the PACS server list: %w", err)
	}
	err := atomicfile.Write(l.Path, atomicfile.Options{}, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(l.Servers)
	})
	if err != nil {
		return fmt.Errorf("save the PACS server list %s: %w", l.Path, err)
	}
	return nil
}

// Secrets stores each server's password or token.
type Secrets interface {
	Get(server string) (string, error) // "" and no error when none is saved
	Set(server, secret string) error
	Delete(server string) error
	// Where says where secrets are kept, for the UI.
	Where() string
}

// keyringService is the service name of LiverSeg's keyring entries.
const keyringService = "LiverSeg PACS"

type keyringSecrets struct{}

func (keyringSecrets) Get(server string) (string, error) {
	s, err := keyring.Get(keyringService, server)
	if errors.Is(err, keyring.ErrNotFound) {
		return "", nil
	}
	return s, err
}
func (keyringSecrets) Set(server, secret string) error {
	return keyring.Set(keyringService, server, secret)
}
func (keyringSecrets) Delete(server string) error {
	if err := keyring.Delete(keyringService, server); err != nil && !errors.Is(err, keyring.ErrNotFound) {
		return err
	}
	return nil
}
func (keyringSecrets) Where() string { return "the desktop keyring" }

// FileSecrets keeps secrets in a JSON file of mode 0600 (the fallback
// where no keyring service runs).
type FileSecrets struct {
	Path string
	mu   sync.Mutex
}

func (f *FileSecrets) read() (map[string]string, error) {
	m := map[string]string{}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the secrets file %s: %w", f.Path, errors.Unwrap(err))
	}
	if st, err := os.Stat(f.Path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the secrets file %s is readable by others (mode %v): refusing to use it; chmod 600 it", f.Path, st.Mode().Perm())
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("the secrets file %s is damaged", f.Path)
	}
	return m, nil
}

func (f *FileSecrets) write(m map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return err
	}
	// atomicfile makes 0644 files; this one must never be readable by
	// others, not even for a moment, so it is written here with 0600.
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".secrets-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := json.NewEncoder(tmp).Encode(m); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.Path)
}

func (f *FileSecrets) Get(server string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.read()
	return m[server], err
}

func (f *FileSecrets) Set(server, secret string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.read()
	if err != nil {
		return err
	}
	m[server] = secret
	return f.write(m)
}

func (f *FileSecrets) Delete(server string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.read()
	if err != nil {
		return err
	}
	if _, ok := m[server]; !ok {
		return nil
	}
	delete(m, server)
	return f.write(m)
}

func (f *FileSecrets) Where() string {
	return "the file " + f.Path + " (readable only by you; no desktop keyring is running)"
}

// probeKeyring reports whether a keyring service answers: a lookup of an
// entry that does not exist must say "not found", not fail.
var probeKeyring = func() bool {
	_, err := keyring.Get(keyringService, "liverseg-probe")
	return err == nil || errors.Is(err, keyring.ErrNotFound)
}

// DefaultSecrets is the desktop keyring when one answers, else a 0600 file
// in the configuration folder.
func DefaultSecrets() (Secrets, error) {
	if probeKeyring() {
		return keyringSecrets{}, nil
	}
	d, err := ConfigDir()
	if err != nil {
		return nil, err
	}
	return &FileSecrets{Path: filepath.Join(d, "pacs-secrets.json")}, nil
}
