package backendtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/sim"
)

// Timing of the simulated generations, on the suite's manual clock.
const (
	QueueTime = 10 * time.Millisecond
	RunTime   = 30 * time.Millisecond
)

// Key is the credential the suite gives the adapter. No error may hold it.
const Key = "conformance-key-0123456789abcdefSECRET"

// Start is where the suite's manual clock starts.
var Start = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Simulator is a simulated provider API: every pkg/sim/... simulator is
// one.
type Simulator interface {
	Handler() http.Handler
	Core() *sim.Core
}

// pager is implemented by the simulators of Finder adapters: SetPageSize
// caps how many generations one page of their listing holds, so that the
// suite can make a listing span pages.
type pager interface {
	SetPageSize(n int)
}

// CancelEffect is what Backend.Cancel does to a running generation.
type CancelEffect int

// The effects.
const (
	// CancelStops: later polls report StateCanceled, billed (it ran).
	CancelStops CancelEffect = iota
	// CancelDeletes: the provider deletes the generation; later polls are
	// errclass.NotFound (Luma).
	CancelDeletes
	// CancelIgnored: the provider has no cancel; Cancel makes no call and
	// the generation runs to its end (Veo).
	CancelIgnored
)

// Harness is what the suite needs to know about one adapter.
type Harness struct {
	// NewSim returns a fresh simulator for cfg (the suite's timing and
	// clock). Required.
	NewSim func(cfg sim.Config) Simulator
	// NewBackend returns an adapter that talks to the simulator at url,
	// with client, sending key as its credential. Required.
	NewBackend func(t *testing.T, url, key string, client *http.Client) backend.Backend
	// Request is a request the adapter and its simulator accept; the suite
	// changes only its Prompt and, for Finder cases, its AspectRatio
	// (to 9:16) and Model (to one that does not exist).
	Request backend.SubmitRequest
	// ReportsDuration: a succeeded Status carries DurationSeconds (the
	// requested one); false: the provider does not report it and it is 0.
	ReportsDuration bool
	// NoPendingState: the provider does not tell queued from running, and a
	// queued generation polls as StateRunning (Veo).
	NoPendingState bool
	// Cancel is what Cancel does to a running generation.
	Cancel CancelEffect
	// AuthHint is text the error of a refused credential holds, telling
	// the operator what to check (the variable that holds the key).
	AuthHint string
	// VideoURL maps a succeeded generation's VideoURL to an http(s) URL of
	// the simulator that serves the video (Veo answers gs:// URIs); nil
	// fetches the VideoURL itself.
	VideoURL func(videoURL, simURL string) string
}

// Run runs the conformance suite against h. Its subtests run in parallel,
// each on a simulator of its own.
func Run(t *testing.T, h Harness) {
	t.Helper()
	require.NotNil(t, h.NewSim, "Harness.NewSim")
	require.NotNil(t, h.NewBackend, "Harness.NewBackend")
	for _, c := range []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"Lifecycle", testLifecycle},
		{"RealClock", testRealClock},
		{"GenerationFailure", testGenerationFailure},
		{"SafetyRejection", testSafety},
		{"SimulatorDown", testDown},
		{"RateLimited", testRateLimited},
		{"ServerErrors", testServerErrors},
		{"CancelWhileRunning", testCancel},
		{"UnknownGeneration", testUnknownGeneration},
		{"InvalidHandle", testInvalidHandle},
		{"WrongCredential", testWrongCredential},
		{"MalformedAnswers", testMalformed},
		{"EchoedCredential", testEchoedCredential},
		{"LostAnswer", testLostAnswer},
		{"ContextCanceled", testContextCanceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, h)
		})
	}
	t.Run("Finder", func(t *testing.T) {
		t.Parallel()
		runFinder(t, h)
	})
}

// Corruption replaces a simulator's answer, rec, to the protocol call r.
type corruption func(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder)

// Corruptions of answers every adapter must survive with an error.
var corruptions = map[string]corruption{
	"truncated": func(w http.ResponseWriter, _ *http.Request, rec *httptest.ResponseRecorder) {
		b := rec.Body.Bytes()
		replay(w, rec, "", b[:len(b)/2])
	},
	"html": func(w http.ResponseWriter, _ *http.Request, rec *httptest.ResponseRecorder) {
		replay(w, rec, "text/html", []byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
	},
	"empty": func(w http.ResponseWriter, _ *http.Request, rec *httptest.ResponseRecorder) { replay(w, rec, "", nil) },
	"array": func(w http.ResponseWriter, _ *http.Request, rec *httptest.ResponseRecorder) {
		replay(w, rec, "", []byte("[]"))
	},
}

// lost serves the call and then drops the connection: the provider did
// the work, the adapter never hears of it.
var lost corruption = func(http.ResponseWriter, *http.Request, *httptest.ResponseRecorder) { panic(http.ErrAbortHandler) }

// echoes answer with the request's credential quoted back, in plain text
// and in the JSON fields where providers put their messages.
var echoes = map[string]corruption{
	"text": func(w http.ResponseWriter, r *http.Request, _ *httptest.ResponseRecorder) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "invalid credentials: "+r.Header.Get("Authorization"))
	},
	"json": func(w http.ResponseWriter, r *http.Request, _ *httptest.ResponseRecorder) {
		a := r.Header.Get("Authorization")
		sim.WriteJSON(w, http.StatusBadRequest, map[string]any{"error": a, "detail": a, "title": a, "message": a})
	},
}

func replay(w http.ResponseWriter, rec *httptest.ResponseRecorder, contentType string, body []byte) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// env is one test's simulator, server and adapter.
type env struct {
	h     Harness
	b     backend.Backend
	sim   Simulator
	srv   *httptest.Server
	clock *sim.ManualClock

	mu      sync.Mutex
	corrupt corruption // applied to protocol answers while set
}

func setup(t *testing.T, h Harness) *env {
	t.Helper()
	e := &env{h: h, clock: sim.NewManualClock(Start)}
	e.sim = h.NewSim(sim.Config{QueueTime: QueueTime, RunTime: RunTime, Now: e.clock.Now})
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	e.sim.Core().SetBaseURL(e.srv.URL)
	e.b = h.NewBackend(t, e.srv.URL, Key, e.srv.Client())
	require.NotNil(t, e.b)
	return e
}

func (e *env) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	c := e.corrupt
	e.mu.Unlock()
	if c == nil || strings.HasPrefix(r.URL.Path, "/__sim/") {
		e.sim.Handler().ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	e.sim.Handler().ServeHTTP(rec, r)
	c(w, r, rec)
}

// with runs f while the simulator's answers are corrupted by c.
func (e *env) with(c corruption, f func()) {
	e.mu.Lock()
	e.corrupt = c
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.corrupt = nil
		e.mu.Unlock()
	}()
	f()
}

func (e *env) request(prompt string) backend.SubmitRequest {
	r := e.h.Request
	r.Prompt = prompt
	return r
}

func (e *env) submit(t *testing.T, prompt string) backend.Handle {
	t.Helper()
	h, err := e.b.Submit(context.Background(), e.request(prompt))
	noSecret(t, err)
	require.NoError(t, err)
	require.NotEmpty(t, h)
	return h
}

func (e *env) poll(t *testing.T, h backend.Handle) backend.Status {
	t.Helper()
	st, err := e.b.Poll(context.Background(), h)
	noSecret(t, err)
	noSecret(t, st.Err)
	require.NoError(t, err)
	return st
}

// queued is the state a queued generation polls as.
func (e *env) queued() backend.State {
	if e.h.NoPendingState {
		return backend.StateRunning
	}
	return backend.StatePending
}

// forget removes every generation from the simulator, so that the handles
// the adapter holds name generations the provider does not know.
func (e *env) forget() {
	for _, g := range e.sim.Core().List() {
		e.sim.Core().Delete(g.ID)
	}
}

// noSecret fails when err's text holds the credential.
func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		require.NotContains(t, err.Error(), Key, "an error holds the credential")
	}
}

// requireClass requires err to be of class, and free of the credential.
func requireClass(t *testing.T, err error, class error) {
	t.Helper()
	require.Error(t, err)
	noSecret(t, err)
	require.ErrorIs(t, err, class, "want %v, got %v", class, errclass.Of(err))
	require.Equal(t, class, errclass.Of(err), "%v", err)
}

func testLifecycle(t *testing.T, h Harness) {
	e := setup(t, h)
	req := e.request("a red fox running through snow")
	hd, err := e.b.Submit(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, 1, e.sim.Core().Stats().Submitted)

	require.Equal(t, e.queued(), e.poll(t, hd).State)

	e.clock.Advance(QueueTime + RunTime/2)
	st := e.poll(t, hd)
	require.Equal(t, backend.StateRunning, st.State)
	require.GreaterOrEqual(t, st.Progress, 0.0)
	require.Less(t, st.Progress, 1.0)

	e.clock.Advance(RunTime)
	st = e.poll(t, hd)
	require.Equal(t, backend.StateSucceeded, st.State)
	require.NoError(t, st.Err)
	require.NotEmpty(t, st.VideoURL)
	if h.ReportsDuration {
		require.Equal(t, req.DurationSeconds, st.DurationSeconds)
	} else {
		require.Zero(t, st.DurationSeconds)
	}

	u := st.VideoURL
	if h.VideoURL != nil {
		u = h.VideoURL(u, e.srv.URL)
	}
	res, err := e.srv.Client().Get(u)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "GET %s", u)
	require.Equal(t, sim.VideoBytes, body)

	require.Equal(t, st, e.poll(t, hd), "a finished generation stays as it is")
}

// testRealClock drives a generation the way the worker does: on the wall
// clock, polling at PollInterval until a terminal state, with a deadline.
// States never go backwards.
func testRealClock(t *testing.T, h Harness) {
	s := h.NewSim(sim.Config{QueueTime: QueueTime, RunTime: RunTime})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	s.Core().SetBaseURL(srv.URL)
	b := h.NewBackend(t, srv.URL, Key, srv.Client())
	require.Positive(t, b.PollInterval())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := h.Request
	req.Prompt = "a red fox running through snow"
	hd, err := b.Submit(ctx, req)
	require.NoError(t, err)
	rank := map[backend.State]int{backend.StatePending: 0, backend.StateRunning: 1, backend.StateSucceeded: 2}
	last := -1
	tick := time.NewTicker(b.PollInterval())
	defer tick.Stop()
	for {
		st, err := b.Poll(ctx, hd)
		require.NoError(t, err)
		r, ok := rank[st.State]
		require.True(t, ok, "unexpected state %s (%v)", st.State, st.Err)
		require.GreaterOrEqual(t, r, last, "state went backwards to %s", st.State)
		last = r
		if st.State.Terminal() {
			require.NotEmpty(t, st.VideoURL)
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no terminal state before the deadline; last %s", st.State)
		case <-tick.C:
		}
	}
}

// finish submits prompt, moves the clock past the generation's end and
// polls it; an error at submit is returned as is.
func (e *env) finish(t *testing.T, prompt string) (backend.Status, error) {
	t.Helper()
	hd, err := e.b.Submit(context.Background(), e.request(prompt))
	noSecret(t, err)
	if err != nil {
		return backend.Status{}, err
	}
	e.clock.Advance(QueueTime + RunTime)
	return e.poll(t, hd), nil
}

func testGenerationFailure(t *testing.T, h Harness) {
	e := setup(t, h)
	st, err := e.finish(t, "a red fox running through snow [sim:fail]")
	require.NoError(t, err)
	require.Equal(t, backend.StateFailed, st.State)
	require.Error(t, st.Err)
	// Every simulator fails "[sim:fail]" as its provider reports an
	// internal error: worth another try, elsewhere.
	requireClass(t, st.Err, errclass.Retryable)
	require.False(t, st.Billed)
	require.Empty(t, st.VideoURL)
}

func testSafety(t *testing.T, h Harness) {
	e := setup(t, h)
	st, err := e.finish(t, "a red fox running through snow [sim:unsafe]")
	if err != nil {
		requireClass(t, err, errclass.ContentSafety)
		return
	}
	require.Equal(t, backend.StateFailed, st.State)
	requireClass(t, st.Err, errclass.ContentSafety)
	require.False(t, st.Billed)
}

func testDown(t *testing.T, h Harness) {
	e := setup(t, h)
	hd := e.submit(t, "a red fox running through snow")
	e.sim.Core().SetFaults(sim.Faults{Down: true})

	_, err := e.b.Submit(context.Background(), e.request("another fox"))
	requireClass(t, err, errclass.Retryable)
	require.ErrorContains(t, err, "503")
	require.Equal(t, 1, e.sim.Core().Stats().Submitted)

	_, err = e.b.Poll(context.Background(), hd)
	requireClass(t, err, errclass.Retryable)
	require.ErrorContains(t, err, "503")
	if h.Cancel != CancelIgnored {
		err = e.b.Cancel(context.Background(), hd)
		requireClass(t, err, errclass.Retryable)
		require.ErrorContains(t, err, "503")
	}
}

func testRateLimited(t *testing.T, h Harness) {
	e := setup(t, h)
	hd := e.submit(t, "a red fox running through snow")
	e.sim.Core().SetFaults(sim.Faults{ErrorRate: 1, Status: http.StatusTooManyRequests})
	for _, call := range []func() error{
		func() error { _, err := e.b.Submit(context.Background(), e.request("another fox")); return err },
		func() error { _, err := e.b.Poll(context.Background(), hd); return err },
	} {
		err := call()
		requireClass(t, err, errclass.Retryable)
		require.ErrorContains(t, err, "429")
		d, ok := errclass.RetryAfter(err)
		require.True(t, ok, "a 429 carries its Retry-After: %v", err)
		require.Equal(t, sim.RetryAfterSeconds*time.Second, d)
	}
	require.Equal(t, 1, e.sim.Core().Stats().Submitted)
}

func testServerErrors(t *testing.T, h Harness) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadGateway} {
		e := setup(t, h)
		e.sim.Core().SetFaults(sim.Faults{ErrorRate: 1, Status: code})
		_, err := e.b.Submit(context.Background(), e.request("a red fox running through snow"))
		requireClass(t, err, errclass.Retryable)
		_, ok := errclass.RetryAfter(err)
		require.False(t, ok, "no Retry-After was sent")
		require.Zero(t, e.sim.Core().Stats().Submitted)
	}
}

func testCancel(t *testing.T, h Harness) {
	e := setup(t, h)
	ctx := context.Background()
	hd := e.submit(t, "a red fox running through snow")
	e.clock.Advance(QueueTime + RunTime/2)
	require.Equal(t, backend.StateRunning, e.poll(t, hd).State)

	require.NoError(t, e.b.Cancel(ctx, hd))
	switch h.Cancel {
	case CancelStops:
		st := e.poll(t, hd)
		require.Equal(t, backend.StateCanceled, st.State)
		require.True(t, st.Billed, "a generation canceled while running is billed")
		require.Equal(t, 1, e.sim.Core().Stats().Canceled)
	case CancelDeletes:
		_, err := e.b.Poll(ctx, hd)
		requireClass(t, err, errclass.NotFound)
		require.Equal(t, 1, e.sim.Core().Stats().Canceled)
	case CancelIgnored:
		require.Zero(t, e.sim.Core().Stats().Canceled)
		e.clock.Advance(RunTime)
		require.Equal(t, backend.StateSucceeded, e.poll(t, hd).State, "the generation runs to its end")
	}
	require.NoError(t, e.b.Cancel(ctx, hd), "canceling twice is not an error")

	done := e.submit(t, "another fox")
	e.clock.Advance(QueueTime + RunTime)
	require.NoError(t, e.b.Cancel(ctx, done), "canceling a finished generation is not an error")
}

// testUnknownGeneration uses a handle whose generation the provider does
// not know (any more): Poll is NotFound, Cancel is no error.
func testUnknownGeneration(t *testing.T, h Harness) {
	e := setup(t, h)
	hd := e.submit(t, "a red fox running through snow")
	e.forget()
	_, err := e.b.Poll(context.Background(), hd)
	requireClass(t, err, errclass.NotFound)
	require.NoError(t, e.b.Cancel(context.Background(), hd))
}

func testInvalidHandle(t *testing.T, h Harness) {
	e := setup(t, h)
	for _, hd := range []backend.Handle{"", "   ", "../../v1/secrets"} {
		_, err := e.b.Poll(context.Background(), hd)
		requireClass(t, err, errclass.Permanent)
		requireClass(t, e.b.Cancel(context.Background(), hd), errclass.Permanent)
	}
	require.Zero(t, e.sim.Core().Stats().Polls, "an invalid handle is refused before any call")
}

func testWrongCredential(t *testing.T, h Harness) {
	e := setup(t, h)
	hd := e.submit(t, "a red fox running through snow")
	e.sim.Core().SetCredential("another-" + Key)

	_, err := e.b.Submit(context.Background(), e.request("another fox"))
	requireClass(t, err, errclass.Retryable) // the backend's trouble, not the job's: fail over
	require.ErrorContains(t, err, "401")
	require.ErrorContains(t, err, h.AuthHint)
	require.Equal(t, 1, e.sim.Core().Stats().Submitted)

	_, err = e.b.Poll(context.Background(), hd)
	requireClass(t, err, errclass.Retryable)
	require.ErrorContains(t, err, "401")
	if h.Cancel != CancelIgnored {
		requireClass(t, e.b.Cancel(context.Background(), hd), errclass.Retryable)
	}
}

func testMalformed(t *testing.T, h Harness) {
	for name, c := range corruptions {
		t.Run(name, func(t *testing.T) {
			e := setup(t, h)
			hd := e.submit(t, "a red fox running through snow")
			require.NotPanics(t, func() {
				e.with(c, func() {
					_, err := e.b.Submit(context.Background(), e.request("another fox"))
					requireClass(t, err, errclass.Retryable)
					for range 2 { // queued, then finished
						_, err = e.b.Poll(context.Background(), hd)
						requireClass(t, err, errclass.Retryable)
						e.clock.Advance(QueueTime + RunTime)
					}
				})
			})
		})
	}
}

func testEchoedCredential(t *testing.T, h Harness) {
	for name, c := range echoes {
		t.Run(name, func(t *testing.T) {
			e := setup(t, h)
			hd := e.submit(t, "a red fox running through snow")
			e.with(c, func() {
				_, err := e.b.Submit(context.Background(), e.request("another fox"))
				require.Error(t, err)
				noSecret(t, err)
				_, err = e.b.Poll(context.Background(), hd)
				require.Error(t, err)
				noSecret(t, err)
				noSecret(t, e.b.Cancel(context.Background(), hd))
				if f, ok := e.b.(backend.Finder); ok {
					_, _, err = f.Find(context.Background(), e.request("another fox"), e.clock.Now())
					require.Error(t, err)
					noSecret(t, err)
				}
			})
		})
	}
}

func testLostAnswer(t *testing.T, h Harness) {
	e := setup(t, h)
	e.with(lost, func() {
		_, err := e.b.Submit(context.Background(), e.request("a red fox running through snow"))
		requireClass(t, err, errclass.Retryable)
	})
	require.Equal(t, 1, e.sim.Core().Stats().Submitted, "the provider has it even though the adapter never heard")
}

func testContextCanceled(t *testing.T, h Harness) {
	e := setup(t, h)
	hd := e.submit(t, "a red fox running through snow")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.b.Submit(ctx, e.request("another fox"))
	requireClass(t, err, errclass.Retryable)
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
	_, err = e.b.Poll(ctx, hd)
	requireClass(t, err, errclass.Retryable)
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
}
