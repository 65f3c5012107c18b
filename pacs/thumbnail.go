package pacs

import (
	"context"
	"image"
	_ "image/jpeg" // decoded whatever the archive sends
	_ "image/png"
	"io"
	"net/url"
	"sort"
	"strconv"

	"github.com/liverseg/liverseg/thumbnail"
)

const tagInstanceNumber = "00200013"

// maxRendered bounds a rendered frame read for a thumbnail: a 512² PNG is
// ~300 KB; an answer far larger is not a thumbnail's worth.
const maxRendered = 32 << 20

// Thumbnail fetches the middle image of a series (by InstanceNumber) as
// the archive renders it (WADO-RS "rendered" resource, PNG, scaled by the
// archive to the viewport, in its default window) and fits it into
// size×size: one small request per series, so that the browser shows the
// series before any is retrieved. Accept names PNG alone: Orthanc's
// DICOMweb plugin answers 400 to a list of image types.
func (c *Client) Thumbnail(ctx context.Context, study, series string, size int) (image.Image, error) {
	for _, uid := range []string{study, series} {
		if err := checkUID(uid); err != nil {
			return nil, c.fail("show", study, series, err)
		}
	}
	rows, err := c.query(ctx, "/studies/"+study+"/series/"+series+"/instances",
		url.Values{"includefield": {tagSOPInstanceUID, tagInstanceNumber}})
	if err != nil {
		return nil, c.fail("show", study, series, err)
	}
	type inst struct {
		sop string
		n   int
	}
	var in []inst
	for _, a := range rows {
		if sop := a.str(tagSOPInstanceUID); checkUID(sop) == nil {
			in = append(in, inst{sop, a.int(tagInstanceNumber)})
		}
	}
	if len(in) == 0 {
		return nil, c.fail("show", study, series, reason(ErrNotFound, "the archive lists no image in the series"))
	}
	sort.SliceStable(in, func(i, j int) bool { return in[i].n < in[j].n })
	mid := in[len(in)/2].sop
	resp, err := c.get(ctx, "/studies/"+study+"/series/"+series+"/instances/"+mid+"/rendered",
		url.Values{"viewport": {strconv.Itoa(size) + "," + strconv.Itoa(size)}}, "image/png")
	if err != nil {
		return nil, c.fail("show", study, series, err)
	}
	defer resp.Body.Close()
	img, _, err := image.Decode(io.LimitReader(resp.Body, maxRendered))
	if err != nil {
		return nil, c.fail("show", study, series, reason(ErrMalformed, "the rendered image of instance %s cannot be decoded: %v", mid, err))
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, c.fail("show", study, series, reason(ErrMalformed, "the rendered image of instance %s is empty", mid))
	}
	return thumbnail.Fit(img, size, size), nil
}
