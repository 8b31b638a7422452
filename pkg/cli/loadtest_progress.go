package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress display: redrawn every progressTick on a terminal, a plain line
// every progressLine otherwise.
const (
	progressTick = 250 * time.Millisecond
	progressLine = time.Second
	barWidth     = 24
)

// progress shows a phase of a load test on stderr. count is what the rate
// is the rate of (requests sent, jobs finished); line describes the phase
// given the elapsed time and that rate over the last second, and says how
// far along it is (0..1) for the bar.
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	count func() int64
	line  func(elapsed time.Duration, rate float64) (string, float64)
	// samples of count, oldest first: the start, then the last second's
	samples []progressSample
}

type progressSample struct {
	at time.Time
	n  int64
}

// startProgress shows progress until the returned stop is called, which
// shows the last state on a line of its own.
func startProgress(w io.Writer, count func() int64, line func(time.Duration, float64) (string, float64)) (stop func()) {
	p := &progress{w: w, tty: isTerminal(w), start: time.Now(), count: count, line: line}
	p.samples = []progressSample{{at: p.start, n: count()}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressTick)
		defer t.Stop()
		last := p.start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if p.tty || now.Sub(last) >= progressLine-progressTick/2 {
					p.show(now, false)
					last = now
				}
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			p.show(time.Now(), true)
		})
	}
}

// show writes the current state: over the previous one on a terminal, on a
// new line otherwise (and always when final).
func (p *progress) show(now time.Time, final bool) {
	n := p.count()
	p.samples = append(p.samples, progressSample{at: now, n: n})
	// The rate is over the last second or so: from the newest sample at
	// least that old (from the start until there is one).
	for len(p.samples) > 2 && now.Sub(p.samples[1].at) >= progressLine-progressTick/2 {
		p.samples = p.samples[1:]
	}
	rate := 0.0
	if first := p.samples[0]; now.Sub(first.at) > 0 {
		rate = float64(n-first.n) / now.Sub(first.at).Seconds()
	}
	text, done := p.line(now.Sub(p.start), rate)
	if !p.tty {
		fmt.Fprintln(p.w, text)
		return
	}
	fill := int(done * barWidth)
	bar := "[" + strings.Repeat("=", fill) + strings.Repeat(" ", barWidth-fill) + "] "
	end := "\x1b[K"
	if final {
		end += "\n"
	}
	fmt.Fprint(p.w, "\r"+bar+text+end)
}
