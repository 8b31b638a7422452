package replicate

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// matches reports whether p was created from the model and input Submit
// sends: the same model, prompt, duration, aspect ratio and resolution. The
// image is not compared: Replicate may store a data URI as a file and echo
// its URL instead.
func (p prediction) matches(model string, in input) bool {
	var got struct {
		Prompt      string  `json:"prompt"`
		Duration    float64 `json:"duration"`
		AspectRatio string  `json:"aspect_ratio"`
		Resolution  string  `json:"resolution"`
	}
	raw, err := json.Marshal(p.Input)
	if err != nil || json.Unmarshal(raw, &got) != nil {
		return false
	}
	return p.Model == model && got.Prompt == in.Prompt && got.Duration == float64(in.Duration) &&
		got.AspectRatio == in.AspectRatio && got.Resolution == in.Resolution
}

// Find implements backend.Finder: it looks for the prediction a Submit(req)
// whose answer was lost created after since. It lists GET /v1/predictions
// (newest first, 100 a page) with created_after = since -
// providerhttp.ClockSkew, follows "next" until a page reaches back past
// that time or the listing ends, and compares each prediction's model and
// input (prompt, duration, aspect_ratio, resolution) with what Submit would
// send. One match is adopted (its id is the Handle); none is found=false;
// several are an errclass.Conflict error, never a guess. A request Submit
// would refuse fails as Submit does (Permanent): it was never sent. See
// providerhttp.FindOne.
//
// "next" is followed on the Endpoint only: its query (the cursor) is kept
// and its host ignored, so the token never goes anywhere else.
func (b *Backend) Find(ctx context.Context, req backend.SubmitRequest, since time.Time) (backend.Handle, bool, error) {
	_, _, in, err := planRequest(req)
	if err != nil {
		return "", false, err
	}
	after := since.Add(-providerhttp.ClockSkew).UTC().Format(time.RFC3339Nano)
	next := b.predictions.URL + "?" + url.Values{"created_after": {after}}.Encode()
	const op = "list predictions"
	id, found, err := providerhttp.FindOne(ctx, "replicate", since, func(ctx context.Context) ([]providerhttp.Listed, bool, error) {
		var page struct {
			Next    *string      `json:"next"`
			Results []prediction `json:"results"`
		}
		if _, err := b.predictions.API.Call(ctx, providerhttp.Request{Method: http.MethodGet, URL: next, Op: op}, &page, "prediction list", http.StatusOK); err != nil {
			return nil, false, err
		}
		items, err := providerhttp.ListedPage(b.predictions.API, op, "prediction", page.Results, func(p prediction) (string, string, bool) {
			return p.ID, p.CreatedAt, p.matches(req.Model, in)
		})
		if err != nil {
			return nil, false, err
		}
		if page.Next == nil || *page.Next == "" {
			return items, false, nil
		}
		u, err := url.Parse(*page.Next)
		if err != nil {
			return nil, false, b.predictions.API.Errorf(errclass.Retryable, op, "unreadable next page URL %q", providerhttp.Clip(*page.Next))
		}
		next = b.predictions.URL + "?" + u.RawQuery
		return items, true, nil
	})
	return backend.Handle(id), found, err
}
