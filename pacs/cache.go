package pacs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/liverseg/liverseg/internal/atomicfile"
)

// Cache is the local store of retrieved series, keyed by UIDs:
//
//	ROOT/STUDY_UID/SERIES_UID/instances/SOP_UID.dcm
//	ROOT/STUDY_UID/SERIES_UID/manifest.json   (written last: the series is complete)
//	ROOT/STUDY_UID/SERIES_UID/partial/        (instances being written)
//
// Each instance is written to partial/ and renamed into instances/ only
// when its whole multipart part has arrived and been synced, so
// instances/ never holds a half-written file, and an interrupted
// retrieval resumes with the instances it lacks. A series opens from the
// cache without the network once its manifest exists.
type Cache struct {
	Root string
	// Limit is the size in bytes above which the least recently used
	// complete series are removed after a retrieval (0 = no limit).
	Limit int64
}

// DefaultCacheLimit is the size limit of DefaultCache.
const DefaultCacheLimit = 20 << 30

// DefaultCache is os.UserCacheDir()/liverseg/pacs with DefaultCacheLimit.
func DefaultCache() (*Cache, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("no cache folder for retrieved series: %w", err)
	}
	return &Cache{Root: filepath.Join(d, "liverseg", "pacs"), Limit: DefaultCacheLimit}, nil
}

// Manifest describes a complete cached series.
type Manifest struct {
	Server            string    `json:"server"`
	StudyInstanceUID  string    `json:"studyInstanceUID"`
	SeriesInstanceUID string    `json:"seriesInstanceUID"`
	Instances         []string  `json:"instances"` // SOPInstanceUIDs
	Bytes             int64     `json:"bytes"`
	Retrieved         time.Time `json:"retrieved"`
}

const manifestName = "manifest.json"

func (c *Cache) seriesDir(study, series string) string {
	return filepath.Join(c.Root, study, series)
}

// InstancesDir is the folder of a series' DICOM files (what the loader opens).
func (c *Cache) InstancesDir(study, series string) string {
	return filepath.Join(c.seriesDir(study, series), "instances")
}

// Lookup returns the instances folder of a complete cached series. It
// checks that every instance the manifest lists is there (a user may have
// deleted files) and marks the series as recently used.
func (c *Cache) Lookup(study, series string) (string, *Manifest, bool) {
	if checkUID(study) != nil || checkUID(series) != nil {
		return "", nil, false
	}
	mp := filepath.Join(c.seriesDir(study, series), manifestName)
	b, err := os.ReadFile(mp)
	if err != nil {
		return "", nil, false
	}
	var m Manifest
	if json.Unmarshal(b, &m) != nil || len(m.Instances) == 0 {
		return "", nil, false
	}
	dir := c.InstancesDir(study, series)
	for _, sop := range m.Instances {
		if checkUID(sop) != nil {
			return "", nil, false
		}
		if _, err := os.Stat(filepath.Join(dir, sop+".dcm")); err != nil {
			return "", nil, false
		}
	}
	now := time.Now()
	os.Chtimes(mp, now, now)
	return dir, &m, true
}

func (c *Cache) writeManifest(m *Manifest) error {
	p := filepath.Join(c.seriesDir(m.StudyInstanceUID, m.SeriesInstanceUID), manifestName)
	return atomicfile.Write(p, atomicfile.Options{}, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	})
}

// Entry is one cached series (complete or not) and its size.
type Entry struct {
	Study, Series string
	Bytes         int64
	Complete      bool
	Used          time.Time // when it was last retrieved or opened
}

// Entries lists the cached series, least recently used first.
func (c *Cache) Entries() ([]Entry, error) {
	studies, err := os.ReadDir(c.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the PACS cache %s: %w", c.Root, err)
	}
	var out []Entry
	for _, st := range studies {
		if !st.IsDir() || checkUID(st.Name()) != nil {
			continue
		}
		series, _ := os.ReadDir(filepath.Join(c.Root, st.Name()))
		for _, se := range series {
			if !se.IsDir() || checkUID(se.Name()) != nil {
				continue
			}
			e := Entry{Study: st.Name(), Series: se.Name()}
			dir := c.seriesDir(e.Study, e.Series)
			if fi, err := os.Stat(filepath.Join(dir, manifestName)); err == nil {
				e.Complete, e.Used = true, fi.ModTime()
			} else if fi, err := os.Stat(dir); err == nil {
				e.Used = fi.ModTime()
			}
			filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if fi, err := d.Info(); err == nil {
						e.Bytes += fi.Size()
					}
				}
				return nil
			})
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Used.Before(out[j].Used) })
	return out, nil
}

// Size is the cache's total size in bytes.
func (c *Cache) Size() (int64, error) {
	es, err := c.Entries()
	var n int64
	for _, e := range es {
		n += e.Bytes
	}
	return n, err
}

// Remove deletes one cached series.
func (c *Cache) Remove(study, series string) error {
	if checkUID(study) != nil || checkUID(series) != nil {
		return errors.New("not a cached series")
	}
	if err := os.RemoveAll(c.seriesDir(study, series)); err != nil {
		return err
	}
	os.Remove(filepath.Join(c.Root, study)) // only when empty
	return nil
}

// Clear deletes every cached series.
func (c *Cache) Clear() error {
	es, err := c.Entries()
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := c.Remove(e.Study, e.Series); err != nil {
			return fmt.Errorf("clear the PACS cache: %w", err)
		}
	}
	return nil
}

// Trim removes least recently used series until the cache fits Limit,
// never the series keep (the one just retrieved).
func (c *Cache) Trim(keepStudy, keepSeries string) error {
	if c.Limit <= 0 {
		return nil
	}
	es, err := c.Entries()
	if err != nil {
		return err
	}
	var total int64
	for _, e := range es {
		total += e.Bytes
	}
	for _, e := range es {
		if total <= c.Limit {
			break
		}
		if e.Study == keepStudy && e.Series == keepSeries {
			continue
		}
		if err := c.Remove(e.Study, e.Series); err != nil {
			return err
		}
		total -= e.Bytes
	}
	return nil
}
