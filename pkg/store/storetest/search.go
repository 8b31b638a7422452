package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// searchSeed is one job of seedSearch.
type searchSeed struct {
	label, project, user string
	status               job.Status
	backend, code        string
	minute               int // created at t0 plus this many minutes
}

// searchSeeds are the jobs of the search tests: failed jobs of several
// backends and codes, other statuses, two projects, two jobs created at
// the same time (f and g: the id breaks the tie).
var searchSeeds = []searchSeed{
	{"a", "s-1", "alice", job.StatusFailed, "fal", job.CodeBackendFailed, 0},
	{"b", "s-1", "bob", job.StatusFailed, "fal", job.CodeTimeout, 1},
	{"c", "s-1", "alice", job.StatusFailed, "runway", job.CodeBackendFailed, 2},
	{"d", "s-1", "alice", job.StatusSucceeded, "fal", "", 3},
	{"e", "s-1", "", job.StatusQueued, "", "", 4},
	{"f", "s-1", "bob", job.StatusCanceled, "luma", job.CodeCanceled, 5},
	{"g", "s-1", "alice", job.StatusFailed, "fal", job.CodeBackendFailed, 5},
	{"h", "s-2", "alice", job.StatusFailed, "fal", job.CodeBackendFailed, 1},
	{"i", "s-2", "carol", job.StatusSucceeded, "runway", "", 6},
}

// seedSearch creates searchSeeds and returns the stored jobs by label.
func seedSearch(t *testing.T, s store.Store) map[string]*job.Job {
	out := map[string]*job.Job{}
	for _, sd := range searchSeeds {
		j := newJob(sd.project, t0.Add(time.Duration(sd.minute)*time.Minute))
		j.UserID, j.Request.UserID = sd.user, sd.user
		j.Status, j.Backend = sd.status, sd.backend
		if sd.backend != "" {
			j.Attempts = []job.Attempt{{Number: 1, Backend: sd.backend, Status: job.AttemptRunning, StartedAt: j.CreatedAt}}
		}
		if sd.code != "" {
			j.Error = &job.ErrorInfo{Code: sd.code, Message: "seeded " + sd.code}
		}
		mustCreate(t, s, j)
		out[sd.label] = want(j)
	}
	return out
}

// newestFirst returns the ids of the labelled jobs in listing order.
func newestFirst(jobs map[string]*job.Job, labels ...string) []string {
	var sel []*job.Job
	for _, l := range labels {
		sel = append(sel, jobs[l])
	}
	slices.SortFunc(sel, func(a, b *job.Job) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return ids(sel)
}

// testListJobsSearch pins every filter of ListJobsQuery alone and
// combined, within a project and across projects, with pagination.
func testListJobsSearch(t *testing.T, s store.Store) {
	jobs := seedSearch(t, s)
	at := func(minute int) time.Time { return t0.Add(time.Duration(minute) * time.Minute) }
	tests := []struct {
		name string
		q    store.ListJobsQuery
		want []string // labels
	}{
		{"backend", store.ListJobsQuery{ProjectID: "s-1", Backend: "fal"}, []string{"a", "b", "d", "g"}},
		{"error code", store.ListJobsQuery{ProjectID: "s-1", ErrorCode: job.CodeBackendFailed}, []string{"a", "c", "g"}},
		{"user", store.ListJobsQuery{ProjectID: "s-1", UserID: "alice"}, []string{"a", "c", "d", "g"}},
		{"status backend code", store.ListJobsQuery{ProjectID: "s-1", Status: job.StatusFailed, Backend: "fal",
			ErrorCode: job.CodeBackendFailed}, []string{"a", "g"}},
		{"every filter", store.ListJobsQuery{ProjectID: "s-1", Status: job.StatusFailed, Backend: "fal",
			ErrorCode: job.CodeBackendFailed, UserID: "alice", Since: at(1), Until: at(6)}, []string{"g"}},
		{"since is inclusive", store.ListJobsQuery{ProjectID: "s-1", Since: at(2)}, []string{"c", "d", "e", "f", "g"}},
		{"until is exclusive", store.ListJobsQuery{ProjectID: "s-1", Until: at(2)}, []string{"a", "b"}},
		{"since and until", store.ListJobsQuery{ProjectID: "s-1", Since: at(1), Until: at(5)}, []string{"b", "c", "d", "e"}},
		{"since with a filter", store.ListJobsQuery{ProjectID: "s-1", Backend: "fal", Since: at(1)}, []string{"b", "d", "g"}},
		{"no match", store.ListJobsQuery{ProjectID: "s-1", Backend: "veo"}, nil},
		{"other project", store.ListJobsQuery{ProjectID: "s-2", UserID: "alice"}, []string{"h"}},
		{"every project", store.ListJobsQuery{AllProjects: true}, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}},
		{"every project, code", store.ListJobsQuery{AllProjects: true, ErrorCode: job.CodeBackendFailed}, []string{"a", "c", "g", "h"}},
		{"every project, failed fal since", store.ListJobsQuery{AllProjects: true, Status: job.StatusFailed,
			Backend: "fal", Since: at(1)}, []string{"b", "g", "h"}},
		{"every project, user and range", store.ListJobsQuery{AllProjects: true, UserID: "alice", Since: at(1), Until: at(6)},
			[]string{"c", "d", "g", "h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, limit := range []int{0, 2} {
				q := tt.q
				q.Limit = limit
				got, _ := listAll(t, s, q)
				require.Equal(t, newestFirst(jobs, tt.want...), ids(got), "limit %d", limit)
			}
		})
	}

	// Listed jobs are whole, and filtered pages hold exactly Limit jobs.
	got, sizes := listAll(t, s, store.ListJobsQuery{AllProjects: true, Status: job.StatusFailed, Limit: 2})
	require.Equal(t, []int{2, 2, 1}, sizes)
	for _, j := range got {
		require.Equal(t, job.StatusFailed, j.Status)
	}
	require.Equal(t, jobs["a"], got[len(got)-1])
}
