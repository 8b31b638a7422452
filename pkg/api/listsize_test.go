package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/client"
)

// A listing never carries inline image bytes (issue 13, finding 5): 60
// jobs with a ~440 KiB data: image each made GET /v1/jobs?limit=500 answer
// tens of megabytes; the listing shows the image's media type and "…",
// and GET /v1/jobs/{id} still shows the whole request.
func TestListingsCarryNoInlineImages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	img := "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("PNG-byte", 40<<10)))
	require.Greater(t, len(img), 350<<10)
	body := `{"prompt":"a fox","duration_seconds":5,"image_url":"` + img + `"}`
	var id string
	for range 60 {
		r := e.do(http.MethodPost, "/v1/jobs", keyA, body)
		require.Equal(t, http.StatusAccepted, r.status, string(r.body[:min(len(r.body), 300)]))
		id = decode[client.Job](t, r).ID
	}
	r := e.do(http.MethodGet, "/v1/jobs?limit=500", keyA, "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Less(t, len(r.body), 1<<20, "a page stays under 1 MiB")
	list := decode[client.JobList](t, r)
	require.Len(t, list.Jobs, 60)
	for _, j := range list.Jobs {
		require.Equal(t, "data:image/png;base64,…", j.Request.ImageURL)
	}
	one := decode[client.Job](t, e.do(http.MethodGet, "/v1/jobs/"+id, keyA, ""))
	assert.Equal(t, img, one.Request.ImageURL, "the job itself shows the whole request")
}

// A page stays under 1 MiB whatever limit asks for (issue 13, finding 5):
// jobs at the request size limits (a 4,000-character prompt of 4-byte
// runes, 32 metadata values of 512 bytes) take ~35 KiB each, so 60 of them
// overflow a page. The page ends early with a token, and following the
// tokens lists every job exactly once, newest first.
func TestListingPagesStayUnderOneMebibyte(t *testing.T) {
	t.Parallel()
	e := setup(t)
	meta := map[string]string{}
	for i := range 32 {
		meta[fmt.Sprintf("key-%02d", i)] = strings.Repeat("m", 512)
	}
	req := map[string]any{"prompt": strings.Repeat("🎬", 4000), "duration_seconds": 5, "metadata": meta}
	body, err := json.Marshal(req)
	require.NoError(t, err)
	var ids []string
	for range 60 {
		r := e.do(http.MethodPost, "/v1/jobs", keyA, string(body))
		require.Equal(t, http.StatusAccepted, r.status, string(r.body[:min(len(r.body), 300)]))
		ids = append(ids, decode[client.Job](t, r).ID)
	}
	var listed []string
	pages := 0
	for token := ""; ; pages++ {
		require.Less(t, pages, 10, "the listing ends")
		r := e.do(http.MethodGet, "/v1/jobs?limit=500&page_token="+token, keyA, "")
		require.Equal(t, http.StatusOK, r.status)
		require.Less(t, len(r.body), api.MaxPageBytes, "page %d", pages)
		list := decode[client.JobList](t, r)
		require.NotEmpty(t, list.Jobs)
		for _, j := range list.Jobs {
			listed = append(listed, j.ID)
		}
		if token = list.NextPageToken; token == "" {
			break
		}
	}
	assert.GreaterOrEqual(t, pages, 1, "60 jobs of ~35 KiB need two pages")
	slices.Reverse(ids)
	assert.Equal(t, ids, listed, "every job once, newest first")
}
