package luma

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
)

// ListLimit is the page size Find asks GET /generations for. Find moves on
// by the number of generations a page actually holds, so a smaller cap on
// Luma's side only means more pages.
const ListLimit = 100

// listed is a generation as GET /generations lists it: the Generation
// object with the request it echoes.
type listed struct {
	ID        string `json:"id"`
	CreatedAt string `json:"created_at"`
	Model     string `json:"model"`
	Request   struct {
		Model       string `json:"model"`
		Prompt      string `json:"prompt"`
		AspectRatio string `json:"aspect_ratio"`
		Duration    string `json:"duration"`
		Resolution  string `json:"resolution"`
	} `json:"request"`
}

// matches reports whether g was created from body: the same model, prompt,
// aspect ratio, duration and resolution. Keyframes are not compared.
func (g listed) matches(body createBody) bool {
	r := g.Request
	model := r.Model
	if model == "" {
		model = g.Model
	}
	return model == body.Model && r.Prompt == body.Prompt && r.AspectRatio == body.AspectRatio &&
		r.Duration == body.Duration && r.Resolution == body.Resolution
}

// Find implements backend.Finder: it looks for the generation a Submit(req)
// whose answer was lost created after since. It pages through GET
// /generations?limit=&offset= (newest first) back to since -
// providerhttp.ClockSkew and compares each generation's echoed request
// (model, prompt, aspect_ratio, duration, resolution) with the one Submit
// would send. One match is adopted (its id is the Handle); none is
// found=false; several are an errclass.Conflict error, never a guess. A
// request Submit would refuse fails as Submit does (Permanent): it was
// never sent. See providerhttp.FindOne.
//
// Deleted generations are not listed, and Luma pages by offset: a
// generation deleted in the account during the scan shifts the later pages
// by one, which could hide one generation from it.
func (b *Backend) Find(ctx context.Context, req backend.SubmitRequest, since time.Time) (backend.Handle, bool, error) {
	want, err := planRequest(req)
	if err != nil {
		return "", false, err
	}
	offset := 0
	id, found, err := providerhttp.FindOne(ctx, "luma", since, func(ctx context.Context) ([]providerhttp.Listed, bool, error) {
		op := fmt.Sprintf("list generations (offset %d)", offset)
		var page struct {
			Generations []listed `json:"generations"`
			HasMore     bool     `json:"has_more"`
		}
		req := providerhttp.Request{Method: http.MethodGet, URL: fmt.Sprintf("%s?limit=%d&offset=%d", b.generations.URL, ListLimit, offset), Op: op}
		if _, err := b.generations.API.Call(ctx, req, &page, "generation list", http.StatusOK); err != nil {
			return nil, false, err
		}
		items, err := providerhttp.ListedPage(b.generations.API, op, "generation", page.Generations, func(g listed) (string, string, bool) {
			return g.ID, g.CreatedAt, g.matches(want)
		})
		if err != nil {
			return nil, false, err
		}
		offset += len(page.Generations)
		return items, page.HasMore && len(page.Generations) > 0, nil
	})
	return backend.Handle(id), found, err
}
