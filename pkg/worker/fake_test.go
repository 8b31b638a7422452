package worker_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// script is how a fake generation behaves.
type script struct {
	submitErr error // Submit fails with it
	// submitErrN, when positive, limits submitErr to the first submitErrN
	// Submit calls of a job: later ones are accepted.
	submitErrN int
	running    int            // polls answering running before the final status
	final      backend.Status // zero: succeeded with a video of the asked duration
	// reported is the duration the provider reports on success: 0 means the
	// asked duration, -1 that the provider does not say.
	reported int
	pollErrs int   // the first polls fail with pollErr
	pollErr  error // default: a Retryable error
	// hold, when set, keeps the generation running until it is closed.
	hold chan struct{}
	// submitHold, when set, makes Submit wait until it is closed (or its
	// ctx is done: then Submit fails with ctx's error, submitting nothing).
	submitHold chan struct{}
	// answerHold, when set, delays Submit's answer until it is closed: the
	// provider has accepted the generation, the worker does not know yet.
	// If Submit's ctx ends first, the answer is lost (ctx's error).
	answerHold chan struct{}
	// cancelBilled is what the provider bills for a canceled generation.
	cancelBilled bool
	// pollPanics makes every Poll of the generation panic (an adapter bug).
	pollPanics bool
	// beforeFinal, when set, runs once as a Poll is about to answer the
	// final status (another delivery acting meanwhile).
	beforeFinal func()
}

type generation struct {
	req      backend.SubmitRequest
	s        script
	done     bool
	canceled bool
}

// tagKey marks a context so the fake can tell which worker polled.
type tagKey struct{}

func withTag(ctx context.Context, tag string) context.Context {
	return context.WithValue(ctx, tagKey{}, tag)
}

// fakeBackend is a deterministic backend.Backend: it records every call,
// plays a script per prompt, and tracks how many generations are active.
type fakeBackend struct {
	name string

	mu        sync.Mutex
	def       script
	byPrompt  map[string]script
	submits   map[string]int // job id → Submit calls
	gens      map[backend.Handle]*generation
	pollsBy   map[string]int // context tag → polls
	active    int
	maxActive int
	cancels   int
	entered   int   // Submit calls entered (before submitHold)
	cutShort  int   // Submit calls whose ctx ended while held
	finds     int   // Find calls
	findErr   error // Find fails with it
}

// findingFake is a fakeBackend that also implements backend.Finder: it
// finds the generations submitted for the job's attempt, as a provider
// listing would.
type findingFake struct{ *fakeBackend }

var _ backend.Finder = findingFake{}

func (f findingFake) Find(ctx context.Context, req backend.SubmitRequest, since time.Time) (backend.Handle, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finds++
	if f.findErr != nil {
		return "", false, f.findErr
	}
	var found []backend.Handle
	for h, g := range f.gens {
		if g.req.JobID == req.JobID && g.req.Attempt == req.Attempt && g.req.Prompt == req.Prompt {
			found = append(found, h)
		}
	}
	switch len(found) {
	case 0:
		return "", false, nil
	case 1:
		return found[0], true, nil
	default:
		return "", false, errclass.New(errclass.Conflict, "%s: %d generations match job %s attempt %d", f.name, len(found), req.JobID, req.Attempt)
	}
}

func newFake(name string) *fakeBackend {
	return &fakeBackend{name: name, byPrompt: map[string]script{}, submits: map[string]int{},
		gens: map[backend.Handle]*generation{}, pollsBy: map[string]int{}}
}

func (f *fakeBackend) setDefault(s script) { f.mu.Lock(); f.def = s; f.mu.Unlock() }

func (f *fakeBackend) on(prompt string, s script) { f.mu.Lock(); f.byPrompt[prompt] = s; f.mu.Unlock() }

func (f *fakeBackend) Submit(ctx context.Context, req backend.SubmitRequest) (backend.Handle, error) {
	f.mu.Lock()
	f.entered++
	s, ok := f.byPrompt[req.Prompt]
	if !ok {
		s = f.def
	}
	f.mu.Unlock()
	if s.submitHold != nil {
		select {
		case <-s.submitHold:
		case <-ctx.Done():
			f.mu.Lock()
			f.cutShort++
			f.mu.Unlock()
			return "", ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submits[req.JobID]++
	if s.submitErr != nil && (s.submitErrN <= 0 || f.submits[req.JobID] <= s.submitErrN) {
		return "", s.submitErr
	}
	h := backend.Handle(fmt.Sprintf("%s-gen-%d", f.name, len(f.gens)+1))
	f.gens[h] = &generation{req: req, s: s}
	f.active++
	f.maxActive = max(f.maxActive, f.active)
	if s.answerHold != nil {
		f.mu.Unlock()
		defer f.mu.Lock()
		select {
		case <-s.answerHold:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return h, nil
}

func (f *fakeBackend) Poll(ctx context.Context, h backend.Handle) (backend.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tag, ok := ctx.Value(tagKey{}).(string); ok {
		f.pollsBy[tag]++
	}
	g, ok := f.gens[h]
	if !ok {
		return backend.Status{}, errclass.New(errclass.NotFound, "%s: no generation %s", f.name, h)
	}
	if g.s.pollPanics {
		panic(fmt.Sprintf("%s: adapter bug polling %s", f.name, h))
	}
	if g.s.pollErrs > 0 {
		g.s.pollErrs--
		if g.s.pollErr != nil {
			return backend.Status{}, g.s.pollErr
		}
		return backend.Status{}, errclass.New(errclass.Retryable, "%s: poll: 503", f.name)
	}
	if g.canceled {
		return backend.Status{State: backend.StateCanceled, Billed: g.s.cancelBilled}, nil
	}
	if g.s.hold != nil {
		select {
		case <-g.s.hold:
		default:
			return backend.Status{State: backend.StateRunning}, nil
		}
	}
	if g.s.running > 0 {
		g.s.running--
		return backend.Status{State: backend.StateRunning}, nil
	}
	if g.s.beforeFinal != nil {
		g.s.beforeFinal()
		g.s.beforeFinal = nil
	}
	if !g.done {
		g.done = true
		f.active--
	}
	if g.s.final.State != "" {
		return g.s.final, nil
	}
	secs := g.req.DurationSeconds
	switch {
	case g.s.reported > 0:
		secs = g.s.reported
	case g.s.reported < 0:
		secs = 0
	}
	return backend.Status{State: backend.StateSucceeded, Progress: 1, DurationSeconds: secs,
		VideoURL: fmt.Sprintf("https://videos.example/%s/%s.mp4", f.name, h)}, nil
}

func (f *fakeBackend) Cancel(ctx context.Context, h backend.Handle) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels++
	if g, ok := f.gens[h]; ok && !g.done {
		g.canceled, g.done = true, true
		f.active--
	}
	return nil
}

func (f *fakeBackend) PollInterval() time.Duration { return time.Hour } // tests override it

func (f *fakeBackend) submitCount(jobID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.submits[jobID]
}

func (f *fakeBackend) totalSubmits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.submits {
		n += c
	}
	return n
}

func (f *fakeBackend) polls(tag string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pollsBy[tag]
}

func (f *fakeBackend) peak() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxActive
}

func (f *fakeBackend) cancelCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cancels
}

func (f *fakeBackend) enteredCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.entered
}

func (f *fakeBackend) findCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.finds
}

func (f *fakeBackend) setFindErr(err error) { f.mu.Lock(); f.findErr = err; f.mu.Unlock() }

func (f *fakeBackend) activeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active
}
