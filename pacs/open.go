package pacs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/volume"
)

// LoadProgress reports the loading of a retrieved series (slices decoded).
type LoadProgress func(done, total int)

// Open retrieves the series (or takes it from the cache) and loads it as a
// volume through the folder loader, so compressed transfer syntaxes,
// geometry checks and warnings are exactly those of opening a folder.
// Objects that are not images (reports, RT plans) are skipped by the
// loader; a series with no image at all is an error naming the server, the
// study and the series.
func (c *Client) Open(ctx context.Context, cache *Cache, study, series string, retrieve func(Progress), load LoadProgress) (*volume.Volume, string, error) {
	dir, err := c.Retrieve(ctx, cache, study, series, retrieve)
	if err != nil {
		return nil, "", err
	}
	v, err := LoadCached(ctx, dir, load)
	if err != nil {
		return nil, dir, c.fail("open", study, series, err)
	}
	return v, dir, nil
}

// LoadCached loads the image series of a cached series folder.
func LoadCached(ctx context.Context, dir string, load LoadProgress) (*volume.Volume, error) {
	cat, err := dicomio.Scan(ctx, []string{dir}, load)
	if err != nil {
		return nil, err
	}
	var pick *dicomio.Series
	for _, s := range cat.Series {
		if !s.IsLocalizer && (pick == nil || s.NumSlices() > pick.NumSlices()) {
			pick = s
		}
	}
	if pick == nil {
		reasons := map[string]bool{}
		var rs []string
		for _, s := range cat.Skipped {
			if !reasons[s.Reason] {
				reasons[s.Reason] = true
				rs = append(rs, s.Reason)
			}
		}
		msg := "the series holds no image the viewer can open"
		if len(rs) > 0 {
			msg += fmt.Sprintf(" (%d object(s) skipped: %s)", len(cat.Skipped), strings.Join(rs, "; "))
		}
		return nil, errors.New(msg)
	}
	v, err := dicomio.Load(ctx, pick, load)
	if err != nil {
		return nil, err
	}
	return v, nil
}
