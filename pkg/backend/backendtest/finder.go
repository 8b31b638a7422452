package backendtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim"
)

// runFinder runs the Finder cases when the adapter implements
// backend.Finder, and checks nothing otherwise.
func runFinder(t *testing.T, h Harness) {
	if _, ok := setup(t, h).b.(backend.Finder); !ok {
		t.Skip("the adapter does not implement backend.Finder")
	}
	for _, c := range []struct {
		name string
		run  func(t *testing.T, e *env, f backend.Finder)
	}{
		{"FindsTheLostSubmit", testFindLost},
		{"NothingSubmitted", testFindNothing},
		{"TwoIdenticalSubmitsAreAmbiguous", testFindAmbiguous},
		{"IgnoresGenerationsBeforeSince", testFindBeforeSince},
		{"AllowsClockSkew", testFindSkew},
		{"ListingSpansPages", testFindPages},
		{"ListingFails", testFindFails},
		{"MalformedListing", testFindMalformed},
		{"RequestSubmitWouldRefuse", testFindInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, h)
			c.run(t, e, e.b.(backend.Finder))
		})
	}
}

const findPrompt = "a red fox running through snow, lost"

func (e *env) find(t *testing.T, f backend.Finder, req backend.SubmitRequest, since time.Time) (backend.Handle, bool, error) {
	t.Helper()
	hd, found, err := f.Find(context.Background(), req, since)
	noSecret(t, err)
	if err != nil || !found {
		require.Empty(t, hd)
		require.False(t, found, "found with an error")
	}
	return hd, found, err
}

// decoys submits generations that must not match findPrompt's request:
// another prompt, and the same prompt in another aspect ratio.
func (e *env) decoys(t *testing.T) []backend.Handle {
	t.Helper()
	other := e.request(findPrompt)
	other.AspectRatio = job.Aspect9x16
	if other.AspectRatio == e.h.Request.AspectRatio {
		other.AspectRatio = job.Aspect16x9
	}
	h2, err := e.b.Submit(context.Background(), other)
	require.NoError(t, err)
	return []backend.Handle{e.submit(t, "a grey wolf in the snow"), h2}
}

// generationOf returns the simulated generation h names: it polls h to the
// end and finds the generation whose id the video URL holds.
func (e *env) generationOf(t *testing.T, h backend.Handle) sim.Generation {
	t.Helper()
	e.clock.Advance(QueueTime + RunTime)
	st := e.poll(t, h)
	require.Equal(t, backend.StateSucceeded, st.State)
	for _, g := range e.sim.Core().List() {
		if strings.Contains(st.VideoURL, g.ID) {
			return g
		}
	}
	t.Fatalf("no simulated generation has the video %s", st.VideoURL)
	return sim.Generation{}
}

func testFindLost(t *testing.T, e *env, f backend.Finder) {
	since := e.clock.Now()
	e.decoys(t)
	e.with(lost, func() {
		_, err := e.b.Submit(context.Background(), e.request(findPrompt))
		requireClass(t, err, errclass.Retryable)
	})
	e.decoys(t)
	hd, found, err := e.find(t, f, e.request(findPrompt), since)
	require.NoError(t, err)
	require.True(t, found)
	g := e.generationOf(t, hd)
	require.Equal(t, findPrompt, g.Prompt)
	require.Equal(t, e.h.Request.Model, g.Model)
}

func testFindNothing(t *testing.T, e *env, f backend.Finder) {
	since := e.clock.Now()
	_, found, err := e.find(t, f, e.request(findPrompt), since)
	require.NoError(t, err, "an empty listing proves the submit absent")
	require.False(t, found)

	e.decoys(t)
	_, found, err = e.find(t, f, e.request(findPrompt), since)
	require.NoError(t, err)
	require.False(t, found, "no generation matches")
}

func testFindAmbiguous(t *testing.T, e *env, f backend.Finder) {
	since := e.clock.Now()
	e.submit(t, findPrompt)
	e.clock.Advance(time.Second)
	e.submit(t, findPrompt)
	_, found, err := e.find(t, f, e.request(findPrompt), since)
	requireClass(t, err, errclass.Conflict)
	require.False(t, found)
}

func testFindBeforeSince(t *testing.T, e *env, f backend.Finder) {
	e.submit(t, findPrompt)
	e.clock.Advance(providerhttp.ClockSkew + time.Minute)
	since := e.clock.Now()
	_, found, err := e.find(t, f, e.request(findPrompt), since)
	require.NoError(t, err)
	require.False(t, found, "a generation created before since - ClockSkew is another attempt's")

	e.clock.Advance(time.Second)
	want := e.submit(t, findPrompt)
	hd, found, err := e.find(t, f, e.request(findPrompt), since)
	require.NoError(t, err)
	require.True(t, found, "the older identical generation does not make it ambiguous")
	require.Equal(t, e.generationOf(t, want).ID, e.generationOf(t, hd).ID)
}

func testFindSkew(t *testing.T, e *env, f backend.Finder) {
	want := e.submit(t, findPrompt)
	// The intent was recorded after the provider stamped the generation:
	// our clock runs ahead of the provider's by less than ClockSkew.
	since := e.clock.Now().Add(providerhttp.ClockSkew - time.Second)
	hd, found, err := e.find(t, f, e.request(findPrompt), since)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, e.generationOf(t, want).ID, e.generationOf(t, hd).ID)
}

func testFindPages(t *testing.T, e *env, f backend.Finder) {
	p, ok := e.sim.(pager)
	if !ok {
		t.Skip("the simulator has no SetPageSize")
	}
	p.SetPageSize(2)
	since := e.clock.Now()
	want := e.submit(t, findPrompt) // the oldest: on the last page
	for range 3 {
		e.clock.Advance(time.Second)
		e.decoys(t)
	}
	hd, found, err := e.find(t, f, e.request(findPrompt), since)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, e.generationOf(t, want).ID, e.generationOf(t, hd).ID)
}

func testFindFails(t *testing.T, e *env, f backend.Finder) {
	since := e.clock.Now()
	e.sim.Core().SetFaults(sim.Faults{Down: true})
	_, found, err := e.find(t, f, e.request(findPrompt), since)
	requireClass(t, err, errclass.Retryable)
	require.False(t, found, "a failed listing proves nothing")

	e.sim.Core().SetFaults(sim.Faults{})
	e.sim.Core().SetCredential("another-" + Key)
	_, _, err = e.find(t, f, e.request(findPrompt), since)
	requireClass(t, err, errclass.Retryable)
}

func testFindMalformed(t *testing.T, e *env, f backend.Finder) {
	since := e.clock.Now()
	e.submit(t, findPrompt)
	for name, c := range corruptions {
		require.NotPanics(t, func() {
			e.with(c, func() {
				_, found, err := e.find(t, f, e.request(findPrompt), since)
				require.Error(t, err, name)
				require.False(t, found, name)
			})
		}, name)
	}
}

func testFindInvalid(t *testing.T, e *env, f backend.Finder) {
	req := e.request(findPrompt)
	req.Model = "no-such-model"
	_, _, err := e.find(t, f, req, e.clock.Now())
	requireClass(t, err, errclass.Permanent)
}
