package api_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
