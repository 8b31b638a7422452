package firestorestore

import (
	"context"
	"errors"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/internal/cursor"
)

// Store is a store.Store over Cloud Firestore. It is safe for concurrent
// use.
type Store struct {
	c     *firestore.Client
	owned bool // Close closes c
}

var _ store.Store = (*Store)(nil)

// New connects to Firestore's default database of projectID; opts are
// passed to firestore.NewClient, which honours FIRESTORE_EMULATOR_HOST.
// Close closes the client.
func New(ctx context.Context, projectID string, opts ...option.ClientOption) (*Store, error) {
	c, err := firestore.NewClient(ctx, projectID, opts...)
	if err != nil {
		return nil, classify(err, "firestorestore: connect to project %s", projectID)
	}
	return &Store{c: c, owned: true}, nil
}

// NewFromClient returns a Store over an existing client, which the caller
// keeps owning: Close does not close it.
func NewFromClient(c *firestore.Client) *Store { return &Store{c: c} }

// Close closes the client when New made it.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	return s.c.Close()
}

func (s *Store) jobRef(id string) *firestore.DocumentRef {
	return s.c.Collection(jobsCollection).Doc(id)
}

func (s *Store) eventsRef(jobID string) *firestore.CollectionRef {
	return s.jobRef(jobID).Collection(eventsCollection)
}

func (s *Store) backendRef(name string) *firestore.DocumentRef {
	return s.c.Collection(backendsCollection).Doc(name)
}

func (s *Store) apiKeyRef(hash string) *firestore.DocumentRef {
	return s.c.Collection(apiKeysCollection).Doc(hash)
}

// GetJob reads job id; errclass.NotFound when absent.
func (s *Store) GetJob(ctx context.Context, id string) (*job.Job, error) {
	if !validID(id) {
		return nil, errclass.New(errclass.NotFound, "job %s not found", id)
	}
	snap, err := s.jobRef(id).Get(ctx)
	if err != nil {
		return nil, classify(err, "get job %s", id)
	}
	return decodeJob(snap)
}

func decodeJob(snap *firestore.DocumentSnapshot) (*job.Job, error) {
	var d jobDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, classify(err, "decode job %s", snap.Ref.ID)
	}
	return fromJobDoc(snap.Ref.ID, d), nil
}

// ListJobs returns a page of the jobs lq selects, newest first. Its
// queries need the composite indexes in indexes.json.
func (s *Store) ListJobs(ctx context.Context, lq store.ListJobsQuery) (store.JobPage, error) {
	limit, err := lq.Validate()
	if err != nil {
		return store.JobPage{}, err
	}
	q, err := s.jobsQuery(lq)
	if err != nil {
		return store.JobPage{}, err
	}
	// One more than a page tells whether there is a next one.
	snaps, err := q.Limit(limit + 1).Documents(ctx).GetAll()
	if err != nil {
		return store.JobPage{}, classify(err, "list jobs (%s)", describe(lq))
	}
	page := store.JobPage{Jobs: make([]*job.Job, 0, min(len(snaps), limit))}
	for i, snap := range snaps {
		if i == limit {
			last := page.Jobs[limit-1]
			page.NextPageToken = store.PageTokenAfter(last)
			break
		}
		j, err := decodeJob(snap)
		if err != nil {
			return store.JobPage{}, err
		}
		page.Jobs = append(page.Jobs, j)
	}
	return page, nil
}

// CountJobs counts the jobs lq's filters select, at most upTo, with one
// aggregation query (Firestore bills a read per 1,000 index entries
// counted). Its equality filters need no composite index.
func (s *Store) CountJobs(ctx context.Context, lq store.ListJobsQuery, upTo int) (int, error) {
	lq.Limit, lq.PageToken = 0, ""
	if _, err := lq.Validate(); err != nil {
		return 0, err
	}
	if upTo <= 0 {
		return 0, errclass.New(errclass.Permanent, "firestorestore: count jobs: upTo must be positive, got %d", upTo)
	}
	q := filterJobs(s.c.Collection(jobsCollection).Query, lq).Limit(upTo)
	res, err := q.NewAggregationQuery().WithCount("n").Get(ctx)
	if err != nil {
		return 0, classify(err, "count jobs (%s)", describe(lq))
	}
	v, ok := res["n"].(*pb.Value)
	if !ok {
		return 0, errclass.New(errclass.Retryable, "firestorestore: count jobs: no count in the answer")
	}
	return int(v.GetIntegerValue()), nil
}

// filterJobs adds lq's filters to q: an equality filter per set field,
// created_at within [Since, Until).
func filterJobs(q firestore.Query, lq store.ListJobsQuery) firestore.Query {
	for _, f := range []struct{ field, value string }{
		{fieldProjectID, lq.ProjectID},
		{fieldStatus, string(lq.Status)},
		{fieldBackend, lq.Backend},
		{fieldErrorCode, lq.ErrorCode},
		{fieldUserID, lq.UserID},
	} {
		if f.value != "" {
			q = q.Where(f.field, "==", f.value)
		}
	}
	if !lq.Since.IsZero() {
		q = q.Where(fieldCreatedAt, ">=", store.NormalizeTime(lq.Since))
	}
	if !lq.Until.IsZero() {
		q = q.Where(fieldCreatedAt, "<", store.NormalizeTime(lq.Until))
	}
	return q
}

// jobsQuery is the Firestore query of a validated lq: an equality filter
// per set field, created_at within [Since, Until), ordered created_at desc,
// __name__ desc, after the page token's position.
func (s *Store) jobsQuery(lq store.ListJobsQuery) (firestore.Query, error) {
	q := filterJobs(s.c.Collection(jobsCollection).Query, lq)
	q = q.OrderBy(fieldCreatedAt, firestore.Desc).OrderBy(firestore.DocumentID, firestore.Desc)
	if lq.PageToken == "" {
		return q, nil
	}
	c, err := cursor.Decode(lq.PageToken)
	if err != nil {
		return q, err
	}
	if !validID(c.ID) {
		return q, errclass.New(errclass.Permanent, "malformed page token: bad id")
	}
	return q.StartAfter(c.CreatedAt, c.ID), nil
}

// describe names lq's scope in errors.
func describe(lq store.ListJobsQuery) string {
	if lq.AllProjects {
		return "every project"
	}
	return "project " + lq.ProjectID
}

// ListEvents returns a job's events ordered by event id; none for an
// unknown job.
func (s *Store) ListEvents(ctx context.Context, jobID string) ([]store.Event, error) {
	if !validID(jobID) {
		return []store.Event{}, nil
	}
	it := s.eventsRef(jobID).OrderBy(firestore.DocumentID, firestore.Asc).Documents(ctx)
	return listDocs(it, "events of job "+jobID, fromEventDoc)
}

// ListBackends returns every stored backend state, sorted by name.
func (s *Store) ListBackends(ctx context.Context) ([]store.BackendState, error) {
	it := s.c.Collection(backendsCollection).OrderBy(firestore.DocumentID, firestore.Asc).Documents(ctx)
	return listDocs(it, "backends", fromBackendDoc)
}

// listDocs reads every document of it as a D and returns them converted by
// from (given the document id), in order; what names the listing in
// errors. It stops it.
func listDocs[D, T any](it *firestore.DocumentIterator, what string, from func(id string, d D) T) ([]T, error) {
	defer it.Stop()
	out := []T{}
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, classify(err, "list %s", what)
		}
		var d D
		if err := snap.DataTo(&d); err != nil {
			return nil, classify(err, "list %s: decode %s", what, snap.Ref.ID)
		}
		out = append(out, from(snap.Ref.ID, d))
	}
}

// GetAPIKey returns the key record with the given hash; errclass.NotFound
// when absent.
func (s *Store) GetAPIKey(ctx context.Context, hash string) (store.APIKey, error) {
	if !validID(hash) {
		return store.APIKey{}, errclass.New(errclass.NotFound, "api key not found")
	}
	snap, err := s.apiKeyRef(hash).Get(ctx)
	if err != nil {
		// The hash is not a secret, but keep messages free of key material.
		return store.APIKey{}, classify(err, "get api key")
	}
	return decodeAPIKey(snap)
}

func decodeAPIKey(snap *firestore.DocumentSnapshot) (store.APIKey, error) {
	var d apiKeyDoc
	if err := snap.DataTo(&d); err != nil {
		return store.APIKey{}, classify(err, "decode api key")
	}
	return fromAPIKeyDoc(snap.Ref.ID, d), nil
}

// ListAPIKeys returns the keys of projectID, newest first. The query is one
// equality filter (a single-field index); the few keys of a project are
// sorted here.
func (s *Store) ListAPIKeys(ctx context.Context, projectID string) ([]store.APIKey, error) {
	it := s.c.Collection(apiKeysCollection).Where(fieldProjectID, "==", projectID).Documents(ctx)
	keys, err := listDocs(it, "api keys of project "+projectID, fromAPIKeyDoc)
	if err != nil {
		return nil, err
	}
	store.SortAPIKeys(keys)
	return keys, nil
}
