package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store/storetest"
)

// searchT0 is when the first job of seedSearch was created.
var searchT0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// seedSearch stores jobs of projects alpha and beta, one hour apart, and
// returns their ids by label:
//
//	a1 alpha failed    fal    backend_failed alice  +0h
//	a2 alpha failed    runway timeout        bob    +1h
//	a3 alpha succeeded fal    -              alice  +2h
//	a4 alpha failed    fal    backend_failed alice  +3h
//	b1 beta  failed    fal    backend_failed alice  +4h
func (e *env) seedSearch() map[string]string {
	e.t.Helper()
	ids := map[string]string{}
	for i, sd := range []struct{ label, project, status, backend, code, user string }{
		{"a1", projectA, "failed", "fal", job.CodeBackendFailed, "alice"},
		{"a2", projectA, "failed", "runway", job.CodeTimeout, "bob"},
		{"a3", projectA, "succeeded", "fal", "", "alice"},
		{"a4", projectA, "failed", "fal", job.CodeBackendFailed, "alice"},
		{"b1", projectB, "failed", "fal", job.CodeBackendFailed, "alice"},
	} {
		req := job.Request{Prompt: "a fox", DurationSeconds: 5, UserID: sd.user}
		req.ApplyDefaults()
		j := job.New("", sd.project, req, searchT0.Add(time.Duration(i)*time.Hour))
		j.Status, j.Backend = job.Status(sd.status), sd.backend
		if sd.code != "" {
			j.Error = &job.ErrorInfo{Code: sd.code, Message: "seeded"}
		}
		_, _, err := storetest.CreateJob(context.Background(), e.st, j)
		require.NoError(e.t, err)
		ids[sd.label] = j.ID
	}
	return ids
}

// listIDs lists path with key and returns the ids of the answer's jobs
// and its projects.
func (e *env) listIDs(path, key string) (ids, projects []string) {
	e.t.Helper()
	r := e.do(http.MethodGet, path, key, "")
	require.Equal(e.t, http.StatusOK, r.status, string(r.body))
	for _, j := range decode[api.JobList](e.t, r).Jobs {
		ids = append(ids, j.ID)
		projects = append(projects, j.ProjectID)
	}
	return ids, projects
}

func TestListJobsFilters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.seedSearch()
	hour := func(h int) string {
		return url.QueryEscape(searchT0.Add(time.Duration(h) * time.Hour).Format(time.RFC3339))
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{"a4", "a3", "a2", "a1"}},
		{"status=failed", []string{"a4", "a2", "a1"}},
		{"backend=fal", []string{"a4", "a3", "a1"}},
		{"error_code=timeout", []string{"a2"}},
		{"user_id=alice", []string{"a4", "a3", "a1"}},
		{"status=failed&backend=fal&error_code=backend_failed&user_id=alice", []string{"a4", "a1"}},
		{"since=" + hour(1), []string{"a4", "a3", "a2"}},
		{"until=" + hour(1), []string{"a1"}},
		{"since=" + hour(1) + "&until=" + hour(3), []string{"a3", "a2"}},
		{"backend=fal&since=" + hour(1) + "&limit=1", []string{"a4"}},
		{"since=2026-11-20T09:30:00%2B01:00", []string{"a4", "a3", "a2"}}, // 08:30Z: the offset counts
		{"until=2026-11-20", []string{"a4", "a3", "a2", "a1"}},            // a date includes its day
		{"backend=veo", nil},
	} {
		t.Run(tt.query, func(t *testing.T) {
			got, _ := e.listIDs("/v1/jobs?"+tt.query, keyA)
			var want []string
			for _, l := range tt.want {
				want = append(want, id[l])
			}
			require.Equal(t, want, got)
		})
	}
}

// badListParams are query strings of GET /v1/jobs and the parameter each
// 400 names.
var badListParams = []struct{ query, field string }{
	{"backend=nope", "backend"},
	{"error_code=Backend-Failed", "error_code"},
	{"user_id=" + strings.Repeat("u", job.MaxUserIDChars+1), "user_id"},
	{"user_id=%FF", "user_id"},
	{"since=yesterday", "since"},
	{"since=1h", "since"},
	{"until=2026-13-01T00:00:00Z", "until"},
	{"since=2026-11-20T10:00:00Z&until=2026-11-20T09:00:00Z", "until"},
	{"since=2026-11-20T10:00:00Z&until=2026-11-20T10:00:00Z", "until"},
	{"code=backend_failed", "code"},
	{"project=alpha", "project"}, // the admin route's parameter
	{"status=failed&status=queued", "status"},
	{"limit=0", "limit"},
}

func TestListJobsBadParams(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, tt := range badListParams {
		t.Run(tt.query, func(t *testing.T) {
			d := requireError(t, e.do(http.MethodGet, "/v1/jobs?"+tt.query, keyA, ""), http.StatusBadRequest, "invalid_request", tt.field)
			require.Contains(t, d.Message, tt.field)
		})
	}
}

func TestAdminListJobs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.seedSearch()
	ids := func(labels ...string) []string {
		var out []string
		for _, l := range labels {
			out = append(out, id[l])
		}
		return out
	}

	got, projects := e.listIDs("/v1/admin/jobs?status=failed&backend=fal&error_code=backend_failed", adminKey)
	require.Equal(t, ids("b1", "a4", "a1"), got, "every project, newest first")
	require.Equal(t, []string{projectB, projectA, projectA}, projects)
	got, _ = e.listIDs("/v1/admin/jobs?project=beta&status=failed", adminKey)
	require.Equal(t, ids("b1"), got)
	got, _ = e.listIDs("/v1/admin/jobs?project=alpha&user_id=bob", adminKey)
	require.Equal(t, ids("a2"), got)
	got, _ = e.listIDs("/v1/admin/jobs?project=gamma", adminKey)
	require.Empty(t, got)

	// Paging across projects.
	var paged []string
	path := "/v1/admin/jobs?user_id=alice&limit=2"
	for range 5 {
		page := decode[api.JobList](t, e.do(http.MethodGet, path, adminKey, ""))
		for _, j := range page.Jobs {
			paged = append(paged, j.ID)
		}
		if page.NextPageToken == "" {
			break
		}
		path = "/v1/admin/jobs?user_id=alice&limit=2&page_token=" + page.NextPageToken
	}
	require.Equal(t, ids("b1", "a4", "a3", "a1"), paged)

	for _, tt := range []struct{ query, field string }{
		{"project=Not_A_Project", "project"},
		{"backend=nope", "backend"},
		{"since=soon", "since"},
		{"projects=alpha", "projects"},
	} {
		requireError(t, e.do(http.MethodGet, "/v1/admin/jobs?"+tt.query, adminKey, ""), http.StatusBadRequest, "invalid_request", tt.field)
	}
	requireError(t, e.do(http.MethodGet, "/v1/admin/jobs", keyA, ""), http.StatusUnauthorized, "unauthenticated", "")
	requireError(t, e.do(http.MethodGet, "/v1/admin/jobs", "", ""), http.StatusUnauthorized, "unauthenticated", "")
}

// TestListJobsIsolation: no filter lets a project see another's jobs, and
// those jobs answer 404 to it (invariant 5).
func TestListJobsIsolation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.seedSearch()
	for _, query := range []string{"", "user_id=alice", "status=failed&backend=fal&error_code=backend_failed",
		"since=2026-11-20T00:00:00Z", "project=alpha"} {
		r := e.do(http.MethodGet, "/v1/jobs?"+query, keyB, "")
		if strings.HasPrefix(query, "project=") {
			requireError(t, r, http.StatusBadRequest, "invalid_request", "project")
			continue
		}
		got, projects := e.listIDs("/v1/jobs?"+query, keyB)
		require.Equal(t, []string{id["b1"]}, got, query)
		require.Equal(t, []string{projectB}, projects)
	}
	for _, l := range []string{"a1", "a2"} {
		requireError(t, e.do(http.MethodGet, "/v1/jobs/"+id[l], keyB, ""), http.StatusNotFound, "not_found", "")
	}
	r := e.do(http.MethodGet, "/v1/jobs/"+id["b1"], keyB, "")
	require.Equal(t, http.StatusOK, r.status)
}
