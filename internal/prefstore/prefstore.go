// Package prefstore keeps an application's preferences in one JSON file that
// is only ever replaced whole (internal/atomicfile): a reader, such as a
// second instance starting while the first one saves, sees the old file or
// the new one, never a truncated one (Fyne 2.7 rewrites its
// preferences.json in place, and an instance starting during that write
// read it empty: "Preferences load error: EOF", and lost every setting on
// its next save).
//
// Saving merges: the file is read again under a lock and only the keys this
// process set are replaced, so two instances changing different settings
// keep both. Writes are coalesced (SaveDelay) so that a dragged slider does
// not write the file for every step; Flush writes what is pending.
package prefstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/liverseg/liverseg/internal/atomicfile"
)

// SaveDelay is how long after a change the file is written; later changes
// within it are written together.
const SaveDelay = 200 * time.Millisecond

// Store is a preferences file. Its methods are safe for concurrent use.
type Store struct {
	path string
	// OnError, when set, receives save errors (from the saving goroutine);
	// without it they are returned by the next Flush.
	OnError func(error)

	mu      sync.Mutex
	values  map[string]any // as last read or written, with this process's changes
	mine    map[string]any // the keys this process set, and their values
	timer   *time.Timer
	pending bool
	lastErr error
}

// Open reads the preferences at path. A missing file is an empty store. A
// file that is not valid JSON is moved aside to path+".broken" (so that it
// is neither lost nor overwritten) and the store starts empty; the error
// names both files.
func Open(path string) (*Store, error) {
	s := &Store{path: path, values: map[string]any{}, mine: map[string]any{}}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return s, fmt.Errorf("preferences folder: %w", err)
	}
	v, err := read(path)
	if err == nil {
		s.values = v
		return s, nil
	}
	var bad *badFileError
	if errors.As(err, &bad) {
		aside := path + ".broken"
		if rerr := os.Rename(path, aside); rerr != nil {
			return s, fmt.Errorf("%w; could not move it aside: %v", err, rerr)
		}
		return s, fmt.Errorf("%w; moved to %s, starting with default preferences", err, aside)
	}
	return s, err
}

type badFileError struct{ err error }

func (e *badFileError) Error() string { return e.err.Error() }
func (e *badFileError) Unwrap() error { return e.err }

// read returns the file's values: an empty map when it does not exist, a
// *badFileError when it is not a JSON object.
func read(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading preferences: %w", err)
	}
	v := map[string]any{}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&v); err != nil {
		return nil, &badFileError{fmt.Errorf("preferences file %s is not valid JSON: %w", path, err)}
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, &badFileError{fmt.Errorf("preferences file %s has data after its JSON object", path)}
	}
	return v, nil
}

// Path is the file the store reads and writes.
func (s *Store) Path() string { return s.path }

func (s *Store) get(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	return v, ok
}

func (s *Store) set(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[key] = v
	s.mine[key] = v
	s.pending = true
	if s.timer == nil {
		s.timer = time.AfterFunc(SaveDelay, func() {
			if err := s.Flush(); err != nil && s.OnError != nil {
				s.OnError(err)
			}
		})
	}
}

// Flush writes the pending changes now (and returns the error of an
// earlier background save that nobody received).
func (s *Store) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !s.pending {
		err := s.lastErr
		s.lastErr = nil
		return err
	}
	err := s.save()
	s.pending = err != nil
	if err != nil && s.OnError == nil {
		s.lastErr = err
	}
	return err
}

// save merges this process's keys into the file as it is now and replaces
// it whole. s.mu is held.
func (s *Store) save() error {
	unlock, err := lockFile(s.path + ".lock")
	if err != nil {
		return fmt.Errorf("locking preferences: %w", err)
	}
	defer unlock()
	merged, err := read(s.path)
	if err != nil {
		// Unreadable now (changed by hand meanwhile?): keep what we hold
		// rather than lose this process's changes.
		merged = map[string]any{}
		for k, v := range s.values {
			merged[k] = v
		}
	}
	for k, v := range s.mine {
		merged[k] = v
	}
	err = atomicfile.Write(s.path, atomicfile.Options{}, func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(merged)
	})
	if err != nil {
		return fmt.Errorf("saving preferences to %s: %w", s.path, err)
	}
	s.values = merged
	return nil
}

// String returns the value of key, "" when unset or not a string.
func (s *Store) String(key string) string {
	v, _ := s.get(key)
	x, _ := v.(string)
	return x
}

// SetString sets key.
func (s *Store) SetString(key, value string) { s.set(key, value) }

// BoolWithFallback returns the value of key, fallback when unset or not a
// boolean.
func (s *Store) BoolWithFallback(key string, fallback bool) bool {
	v, _ := s.get(key)
	if x, ok := v.(bool); ok {
		return x
	}
	return fallback
}

// SetBool sets key.
func (s *Store) SetBool(key string, value bool) { s.set(key, value) }

// FloatWithFallback returns the value of key, fallback when unset or not a
// number.
func (s *Store) FloatWithFallback(key string, fallback float64) float64 {
	v, _ := s.get(key)
	if x, ok := v.(float64); ok {
		return x
	}
	return fallback
}

// SetFloat sets key.
func (s *Store) SetFloat(key string, value float64) { s.set(key, value) }

// Int returns the value of key, 0 when unset or not a whole number.
func (s *Store) Int(key string) int {
	x := s.FloatWithFallback(key, 0)
	if x != math.Trunc(x) || math.Abs(x) > 1<<52 {
		return 0
	}
	return int(x)
}

// SetInt sets key.
func (s *Store) SetInt(key string, value int) { s.set(key, float64(value)) }
