package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aiprod/aiprod/pkg/client"
)

const loadtestSummary = `Send job requests to POST /v1/jobs at a fixed rate for a duration, open
loop: request n leaves at start + n/rate whether or not the earlier ones
were answered (at most --max-in-flight at once), and its latency counts from
that scheduled time, so that a slow server cannot hide its slowness by
slowing the sender down (no coordinated omission). Progress goes to stderr
(a bar on a terminal, a line a second otherwise), the report to stdout:

  accepted      202 answers
  errors        by the API's error code (rate_limited, invalid_request, ...);
                transport failures as timeout, connection_refused,
                connection_reset or transport; HTTP errors without a JSON
                error as http_<status>
  ingest ms     p50, p95, p99 of the accepted requests, from the scheduled
                send time to the answer
  with --wait, the accepted jobs are then read (GET /v1/jobs/{id}, oldest
  unfinished first, a few at a time) until every one has finished or
  --wait-timeout passes:
  completed     jobs that reached a terminal status (and how many of each)
  completion s  p50, p95 from the job's created_at to its completed_at
  throughput    completed jobs / (last completed_at - first created_at)

The request is --body FILE (JSON, sent as is) or a 5-second standard job
whose prompt is numbered, so that no two requests repeat a prompt. --json
prints {"accepted": n, "errors": {"rate_limited": n}, "ingest_ms": {"p50": x,
"p95": x, "p99": x}, "completed": n, "completion_s": {"p50": x, "p95": x},
"throughput_jobs_per_s": x, ...} with sent, sent_per_s, rate_per_s,
duration_s, statuses and pending besides.

Example, against aiprod dev (no rate limit by default):

  aiprod loadtest --rate 500 --duration 20s --wait`

func init() {
	register(command{"loadtest", "--rate R --duration D [flags]",
		"send jobs at a fixed rate: acceptance, errors, ingest latency; --wait: completion and throughput", runLoadtest})
}

// loadOptions are the flags of loadtest.
type loadOptions struct {
	rate        float64
	duration    time.Duration
	wait        bool
	waitTimeout time.Duration
	asJSON      bool
	bodyFile    string
	maxInFlight int
	timeout     time.Duration
}

func runLoadtest(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "loadtest", "--rate R --duration D [flags]", loadtestSummary)
	af := addAPIFlags(fs, env)
	var o loadOptions
	fs.Float64Var(&o.rate, "rate", 0, "requests per second (required)")
	fs.DurationVar(&o.duration, "duration", 0, "how long to send, e.g. 20s (required)")
	fs.BoolVar(&o.wait, "wait", false, "then wait for the accepted jobs to finish; report completion and throughput")
	fs.DurationVar(&o.waitTimeout, "wait-timeout", 10*time.Minute, "with --wait: stop waiting after this long")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&o.bodyFile, "body", "", "JSON job request to send (- for standard input); default: a numbered 5 s standard job")
	fs.IntVar(&o.maxInFlight, "max-in-flight", 4096, "most requests awaiting an answer at once; the schedule waits past it")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up on a request after this long (error timeout)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	n := int(math.Round(o.rate * o.duration.Seconds()))
	if o.rate <= 0 || o.duration <= 0 || n < 1 || o.maxInFlight < 1 || o.timeout <= 0 || o.waitTimeout <= 0 {
		fmt.Fprintln(env.Stderr, "aiprod loadtest: --rate and --duration must be positive and make at least one request;"+
			" --max-in-flight, --timeout and --wait-timeout positive")
		fs.Usage()
		return errUsage
	}
	body, err := o.bodies(env)
	if err != nil {
		return err
	}
	lt := newLoadtest(af, o, body)
	defer lt.transport.CloseIdleConnections()
	lt.send(ctx, env.Stderr, n)
	if o.wait {
		lt.waitJobs(ctx, env.Stderr)
	}
	rep := lt.report()
	if o.asJSON {
		return printJSON(env.Stdout, rep)
	}
	return rep.print(env.Stdout)
}

// bodies returns the body of request i.
func (o loadOptions) bodies(env *Env) (func(i int) []byte, error) {
	if o.bodyFile == "" {
		run := time.Now().UTC().Format("20060102T150405")
		return func(i int) []byte {
			return fmt.Appendf(nil, `{"prompt":"aiprod loadtest %s #%d: a red fox running through snow, cinematic",`+
				`"duration_seconds":5,"quality_tier":"standard"}`, run, i)
		}, nil
	}
	f := submitFlags{file: o.bodyFile}
	b, err := f.readFile(env)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("--body %s: not JSON", o.bodyFile)
	}
	return func(int) []byte { return b }, nil
}

// loadtest is one run: its client and what it measured.
type loadtest struct {
	opts      loadOptions
	c         *client.Client
	transport *http.Transport
	body      func(i int) []byte

	total    int // requests to send
	start    time.Time
	lastSend time.Duration // when the last request was sent, from start
	sent     atomic.Int64
	accepted atomic.Int64
	failed   atomic.Int64

	mu        sync.Mutex
	latencies []time.Duration // of accepted requests
	errs      map[string]int  // by code
	jobs      []string        // accepted job ids, about in the order sent
	finished  []finishedJob   // with --wait
	pending   int             // with --wait: jobs not finished in time
}

// finishedJob is a job seen in a terminal status.
type finishedJob struct {
	status             client.Status
	created, completed time.Time
}

func newLoadtest(af *apiFlags, o loadOptions, body func(int) []byte) *loadtest {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = o.maxInFlight, o.maxInFlight
	c := client.New(af.api, af.key, client.WithHTTPClient(&http.Client{Transport: tr, Timeout: o.timeout}))
	return &loadtest{opts: o, c: c, transport: tr, body: body, errs: map[string]int{}}
}

// send sends n requests on schedule, then waits for their answers. It stops
// sending when ctx is done; the requests sent are still answered.
func (l *loadtest) send(ctx context.Context, stderr io.Writer, n int) {
	interval := float64(time.Second) / l.opts.rate
	sem := make(chan struct{}, l.opts.maxInFlight)
	var wg sync.WaitGroup
	l.total, l.start = n, time.Now()
	stop := startProgress(stderr, l.sent.Load, l.sendLine)
	defer stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	reqCtx := context.WithoutCancel(ctx)
	for i := range n {
		at := l.start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				wg.Wait()
				return
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		l.sent.Add(1)
		l.lastSend = time.Since(l.start) // later than scheduled when the server holds --max-in-flight
		wg.Go(func() {
			defer func() { <-sem }()
			l.submit(reqCtx, at, i)
		})
	}
	wg.Wait()
}

// submit sends request i, scheduled at at, and records its outcome.
func (l *loadtest) submit(ctx context.Context, at time.Time, i int) {
	var j struct {
		ID string `json:"id"` // the rest of the job is not decoded: the sender shares the machine
	}
	err := l.c.Do(ctx, http.MethodPost, "/v1/jobs", l.body(i), &j)
	latency := time.Since(at)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed.Add(1)
		l.errs[errorCode(err)]++
		return
	}
	l.accepted.Add(1)
	l.latencies = append(l.latencies, latency)
	l.jobs = append(l.jobs, j.ID)
}

// errorCode names a failed request's error: the API's code, http_<status>
// for an HTTP error without one, or the kind of transport failure.
func errorCode(err error) string {
	var ae *client.APIError
	var ne net.Error
	switch {
	case errors.As(err, &ae):
		if ae.Code == "" || ae.Code == http.StatusText(ae.Status) {
			return fmt.Sprintf("http_%d", ae.Status)
		}
		return ae.Code
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_reset"
	}
	return "transport"
}

// sendLine is the progress of the sending phase.
func (l *loadtest) sendLine(elapsed time.Duration, rate float64) (string, float64) {
	sent := l.sent.Load()
	line := fmt.Sprintf("%5.1f/%.0fs  sent %d  accepted %d  errors %d  rate %.0f/s",
		elapsed.Seconds(), l.opts.duration.Seconds(), sent, l.accepted.Load(), l.failed.Load(), rate)
	return line, float64(sent) / float64(max(l.total, 1))
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
