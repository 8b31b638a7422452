package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// With --wait, the oldest waitWindow unfinished jobs are read at a time,
// waitReaders at once; a window where none has finished waits waitPause.
const (
	waitWindow  = 64
	waitReaders = 8
	waitPause   = 500 * time.Millisecond
)

// waitJobs reads the accepted jobs until every one has finished, ctx is
// done or --wait-timeout passes.
func (l *loadtest) waitJobs(ctx context.Context, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.waitTimeout)
	defer cancel()
	pending := slices.Clone(l.jobs)
	total := len(pending)
	finished := func() int64 { l.mu.Lock(); defer l.mu.Unlock(); return int64(len(l.finished)) }
	stop := startProgress(stderr, finished, func(elapsed time.Duration, rate float64) (string, float64) {
		n := finished()
		return fmt.Sprintf("waiting %5.1fs  finished %d of %d  %.1f jobs/s", elapsed.Seconds(), n, total, rate),
			float64(n) / float64(max(total, 1))
	})
	defer stop()
	for len(pending) > 0 && ctx.Err() == nil {
		done := l.read(ctx, pending[:min(len(pending), waitWindow)])
		pending = slices.DeleteFunc(pending, func(id string) bool { return done[id] })
		if len(done) == 0 {
			select {
			case <-time.After(waitPause):
			case <-ctx.Done():
			}
		}
	}
	l.mu.Lock()
	l.pending = len(pending)
	l.mu.Unlock()
}

// read reads jobs ids and records those that have finished; it returns
// their ids. A job that cannot be read is left for the next round.
func (l *loadtest) read(ctx context.Context, ids []string) map[string]bool {
	var mu sync.Mutex
	done := map[string]bool{}
	next := make(chan string)
	var wg sync.WaitGroup
	for range waitReaders {
		wg.Go(func() {
			for id := range next {
				j, err := l.c.Get(ctx, id)
				if err != nil || !j.Status.Terminal() {
					continue
				}
				f := finishedJob{status: j.Status, created: j.CreatedAt, completed: j.UpdatedAt}
				if j.CompletedAt != nil {
					f.completed = *j.CompletedAt
				}
				l.mu.Lock()
				l.finished = append(l.finished, f)
				l.mu.Unlock()
				mu.Lock()
				done[id] = true
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	return done
}

// loadReport is what loadtest prints: the fields of DESIGN.md "Load test",
// then more.
type loadReport struct {
	Accepted    int            `json:"accepted"`
	Errors      map[string]int `json:"errors"`
	IngestMS    ingestMS       `json:"ingest_ms"`
	Completed   int            `json:"completed"`
	CompletionS completionS    `json:"completion_s"`
	Throughput  float64        `json:"throughput_jobs_per_s"`
	Sent        int            `json:"sent"`
	SentPerS    float64        `json:"sent_per_s"` // achieved: requests sent / time from the first to the last
	RatePerS    float64        `json:"rate_per_s"` // asked
	DurationS   float64        `json:"duration_s"`
	Statuses    map[string]int `json:"statuses"`          // of the completed jobs
	Pending     int            `json:"pending,omitempty"` // with --wait: jobs not finished in time
}

type ingestMS struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

type completionS struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
}

func (l *loadtest) report() loadReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := loadReport{Accepted: len(l.latencies), Errors: maps.Clone(l.errs), Completed: len(l.finished),
		Sent: int(l.sent.Load()), RatePerS: l.opts.rate, DurationS: l.opts.duration.Seconds(),
		Statuses: map[string]int{}, Pending: l.pending}
	if r.Sent > 1 && l.lastSend > 0 {
		r.SentPerS = round3(float64(r.Sent-1) / l.lastSend.Seconds())
	}
	lat := slices.Sorted(slices.Values(l.latencies))
	r.IngestMS = ingestMS{P50: ms(percentile(lat, 50)), P95: ms(percentile(lat, 95)), P99: ms(percentile(lat, 99))}
	if len(l.finished) == 0 {
		return r
	}
	var took []time.Duration
	first, last := l.finished[0].created, l.finished[0].completed
	for _, f := range l.finished {
		r.Statuses[string(f.status)]++
		took = append(took, f.completed.Sub(f.created))
		first, last = minTime(first, f.created), maxTime(last, f.completed)
	}
	slices.Sort(took)
	r.CompletionS = completionS{P50: secs(percentile(took, 50)), P95: secs(percentile(took, 95))}
	if span := last.Sub(first); span > 0 {
		r.Throughput = round3(float64(len(l.finished)) / span.Seconds())
	}
	return r
}

// percentile is the nearest-rank p-th percentile of sorted; 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64   { return round3(float64(d) / float64(time.Millisecond)) }
func secs(d time.Duration) float64 { return round3(d.Seconds()) }
func round3(x float64) float64     { return math.Round(x*1000) / 1000 }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// print writes the report for people.
func (r loadReport) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "sent\t%d at %.1f/s (asked %g/s for %gs)\n", r.Sent, r.SentPerS, r.RatePerS, r.DurationS)
	fmt.Fprintf(tw, "accepted\t%d\n", r.Accepted)
	fmt.Fprintf(tw, "errors\t%s\n", counts(r.Errors))
	fmt.Fprintf(tw, "ingest ms\tp50 %.3f  p95 %.3f  p99 %.3f\n", r.IngestMS.P50, r.IngestMS.P95, r.IngestMS.P99)
	if r.Completed > 0 || r.Pending > 0 {
		fmt.Fprintf(tw, "completed\t%d (%s); not finished in time: %d\n", r.Completed, counts(r.Statuses), r.Pending)
		fmt.Fprintf(tw, "completion s\tp50 %.3f  p95 %.3f\n", r.CompletionS.P50, r.CompletionS.P95)
		fmt.Fprintf(tw, "throughput\t%.3f jobs/s\n", r.Throughput)
	}
	return tw.Flush()
}

// counts is "a 1, b 2" in key order, or "none".
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
