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
	submitErr error          // Submit fails with it
	running   int            // polls answering running before the final status
	final     backend.Status // zero: succeeded with a video of the asked duration
	// reported is the duration the provider reports on success: 0 means the
	// asked duration, -1 that the provider does not say.
	reported int
	pollErrs int   // the first polls fail with pollErr
	pollErr  error // default: a Retryable error
	// hold, when set, keeps the generation running until it is closed.
	hold chan struct{}
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
}

func newFake(name string) *fakeBackend {
	return &fakeBackend{name: name, byPrompt: map[string]script{}, submits: map[string]int{},
		gens: map[backend.Handle]*generation{}, pollsBy: map[string]int{}}
}

func (f *fakeBackend) setDefault(s script) { f.mu.Lock(); f.def = s; f.mu.Unlock() }

func (f *fakeBackend) on(prompt string, s script) { f.mu.Lock(); f.byPrompt[prompt] = s; f.mu.Unlock() }

func (f *fakeBackend) Submit(ctx context.Context, req backend.SubmitRequest) (backend.Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submits[req.JobID]++
	s, ok := f.byPrompt[req.Prompt]
	if !ok {
		s = f.def
	}
	if s.submitErr != nil {
		return "", s.submitErr
	}
	h := backend.Handle(fmt.Sprintf("%s-gen-%d", f.name, len(f.gens)+1))
	f.gens[h] = &generation{req: req, s: s}
	f.active++
	f.maxActive = max(f.maxActive, f.active)
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
	if g.s.pollErrs > 0 {
		g.s.pollErrs--
		if g.s.pollErr != nil {
			return backend.Status{}, g.s.pollErr
		}
		return backend.Status{}, errclass.New(errclass.Retryable, "%s: poll: 503", f.name)
	}
	if g.canceled {
		return backend.Status{State: backend.StateCanceled}, nil
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
