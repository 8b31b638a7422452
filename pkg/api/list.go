package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// jobListParams are the query parameters of GET /v1/jobs; GET
// /v1/admin/jobs takes them and project.
var jobListParams = []string{"status", "backend", "error_code", "user_id", "since", "until", "limit", "page_token"}

// errorCodeRE is the form of an error code (job.ErrorInfo.Code).
var errorCodeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// listJobs is GET /v1/jobs: the project's jobs, newest first, filtered
// (jobListQuery).
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, project string) error {
	q, err := s.jobListQuery(r.URL.Query(), jobListParams)
	if err != nil {
		return err
	}
	q.ProjectID = project
	return s.writeJobList(w, r, q)
}

// adminListJobs is GET /v1/admin/jobs?project=&...: the failed-job search
// of operators, with GET /v1/jobs's filters, over one project or, without
// project, every project.
func (s *Server) adminListJobs(w http.ResponseWriter, r *http.Request) error {
	qv := r.URL.Query()
	q, err := s.jobListQuery(qv, append(slices.Clone(jobListParams), "project"))
	if err != nil {
		return err
	}
	switch project := qv.Get("project"); {
	case project == "":
		q.AllProjects = true
	case !ValidProjectID(project):
		return invalid("project", "must match %s, got %q", projectRE, project)
	default:
		q.ProjectID = project
		infoOf(r.Context()).project = project
	}
	return s.writeJobList(w, r, q)
}

// writeJobList answers one page of the jobs q selects.
func (s *Server) writeJobList(w http.ResponseWriter, r *http.Request, q store.ListJobsQuery) error {
	page, err := s.cfg.Store.ListJobs(r.Context(), q)
	switch {
	case err != nil && q.PageToken != "" && errors.Is(err, errclass.Permanent):
		return invalid("page_token", "is not a page token of this list")
	case err != nil:
		return unexpected(err, "list jobs")
	}
	body, err := fitPage(page, MaxPageBytes)
	if err != nil {
		return unexpected(err, "encode jobs")
	}
	s.writeJSON(w, r, http.StatusOK, body)
	return nil
}

// MaxPageBytes bounds the JSON body of one page of a job listing. A page
// whose jobs would not fit ends early, after its last job that fits, with
// a next_page_token that continues from there: limit is a maximum, not a
// promise (at least one job is always listed).
const MaxPageBytes = 1 << 20

// pageEnvelopeBytes is what a page's body holds besides its jobs: the
// braces, field names, separators and a page token (about 100 bytes; 512
// leaves room).
const pageEnvelopeBytes = 512

// rawJobList is JobList with its jobs already encoded.
type rawJobList struct {
	Jobs          []json.RawMessage `json:"jobs"`
	NextPageToken string            `json:"next_page_token"`
}

// fitPage encodes page's jobs as listings show them (ListedJob) until the
// body would pass limit bytes.
func fitPage(page store.JobPage, limit int) (rawJobList, error) {
	out := rawJobList{Jobs: make([]json.RawMessage, 0, len(page.Jobs)), NextPageToken: page.NextPageToken}
	size := pageEnvelopeBytes
	for i, j := range page.Jobs {
		b, err := json.Marshal(ListedJob(j))
		if err != nil {
			return out, fmt.Errorf("job %s: %w", j.ID, err)
		}
		size += len(b) + 1
		if size > limit && i > 0 {
			out.NextPageToken = store.PageTokenAfter(page.Jobs[i-1])
			return out, nil
		}
		out.Jobs = append(out.Jobs, b)
	}
	return out, nil
}

// jobListQuery reads the filters of a job listing from qv, where known
// lists the parameters the route takes: each at most once, none other.
// Errors are 400s naming the parameter. since and until are RFC 3339 times
// (or dates, UTC) bounding created_at: since inclusive, until exclusive.
func (s *Server) jobListQuery(qv url.Values, known []string) (store.ListJobsQuery, error) {
	q := store.ListJobsQuery{Limit: store.DefaultPageSize, PageToken: qv.Get("page_token"),
		Backend: qv.Get("backend"), ErrorCode: qv.Get("error_code"), UserID: qv.Get("user_id")}
	if err := checkParams(qv, known); err != nil {
		return q, err
	}
	if v := qv.Get("status"); v != "" {
		q.Status = job.Status(v)
		if !q.Status.Valid() {
			return q, invalid("status", "must be one of queued, dispatched, running, succeeded, failed, canceled; got %q", v)
		}
	}
	if q.Backend != "" && s.cfg.Catalog.Backend(q.Backend) == nil {
		return q, invalid("backend", "unknown backend %q; known backends: %s", q.Backend, strings.Join(s.cfg.Catalog.Names(), ", "))
	}
	if q.ErrorCode != "" && !errorCodeRE.MatchString(q.ErrorCode) {
		return q, invalid("error_code", "must be an error code such as %s (lower case letters, digits, _), got %q", job.CodeBackendFailed, q.ErrorCode)
	}
	if n := utf8.RuneCountInString(q.UserID); n > job.MaxUserIDChars || !utf8.ValidString(q.UserID) {
		return q, invalid("user_id", "must be valid UTF-8 of at most %d characters", job.MaxUserIDChars)
	}
	var err error
	if v := qv.Get("since"); v != "" {
		if q.Since, err = parseInstant("since", v, false); err != nil {
			return q, err
		}
	}
	if v := qv.Get("until"); v != "" {
		if q.Until, err = parseInstant("until", v, true); err != nil {
			return q, err
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return q, invalid("until", "must be after since (%s), got %s", q.Since.Format(time.RFC3339Nano), q.Until.Format(time.RFC3339Nano))
	}
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxPageSize {
			return q, invalid("limit", "must be a whole number from 1 to %d, got %q", store.MaxPageSize, v)
		}
		q.Limit = n
	}
	return q, nil
}

// checkParams refuses query parameters not in known, and known ones given
// more than once: a misspelt filter is a 400, never silently ignored.
func checkParams(qv url.Values, known []string) error {
	for _, name := range slices.Sorted(maps.Keys(qv)) {
		switch {
		case !slices.Contains(known, name):
			return invalid(name, "is not a parameter of this list; its parameters are %s", strings.Join(known, ", "))
		case len(qv[name]) > 1:
			return invalid(name, "must be given at most once")
		}
	}
	return nil
}
