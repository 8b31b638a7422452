package test

import (
	"bytes"
	"context"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// promptTag finds the chaos test's job tag in a request body: every chaos
// prompt starts with "chaos-<run>-<n>", unique per job.
var promptTag = regexp.MustCompile(`chaos-[0-9a-z]+-[0-9]+`)

// faultProxy sits between the workers and one simulator. It forwards every
// request and adds what the simulators cannot inject themselves:
//
//   - latency spikes as a probability: a share of requests is delayed by a
//     random time, half of them before the simulator sees the request and
//     half after it answered (the provider accepted the submit, the caller
//     hears of it late — or, past its timeout, never);
//
// and it attributes provider-accepted submissions to jobs: a request whose
// body holds a promptTag and that the simulator answered 2xx is a paid
// generation of that job. Requests are forwarded even after the caller gave
// up, so that what the simulator did is always known.
type faultProxy struct {
	Backend string
	URL     string

	rp  *httputil.ReverseProxy
	srv *http.Server

	spikeRate atomic.Uint64 // math.Float64bits
	spikeMin  atomic.Int64  // ns
	spikeMax  atomic.Int64

	requests atomic.Int64
	spikes   atomic.Int64

	mu       sync.Mutex
	accepted map[string]int // prompt tag → submissions the simulator accepted
}

func startFaultProxy(backend, target string) (*faultProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{Backend: backend, URL: "http://" + ln.Addr().String(), accepted: map[string]int{}}
	tr := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport:      tr,
		ModifyResponse: p.modifyResponse,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, `{"error":"fault proxy: `+err.Error()+`"}`)
		},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// SetSpikes sets the share of requests delayed and the delay range; rate 0
// turns spikes off.
func (p *faultProxy) SetSpikes(rate float64, lo, hi time.Duration) {
	p.spikeRate.Store(math.Float64bits(rate))
	p.spikeMin.Store(int64(lo))
	p.spikeMax.Store(int64(max(hi, lo)))
}

func (p *faultProxy) spike() time.Duration {
	rate := math.Float64frombits(p.spikeRate.Load())
	if rate <= 0 || mrand.Float64() >= rate {
		return 0
	}
	p.spikes.Add(1)
	lo, hi := p.spikeMin.Load(), p.spikeMax.Load()
	return time.Duration(lo + mrand.Int64N(hi-lo+1))
}

type tagKey struct{}

type proxyCtx struct {
	tag   string
	after time.Duration
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	pc := &proxyCtx{tag: string(promptTag.Find(body))}
	if d := p.spike(); d > 0 {
		if mrand.IntN(2) == 0 {
			if !sleepCtx(r.Context(), d) {
				return // the caller gave up before the provider saw anything
			}
		} else {
			pc.after = d
		}
	}
	// Forwarded to completion even if the caller goes away meanwhile.
	ctx, cancel := context.WithTimeout(context.WithValue(context.WithoutCancel(r.Context()), tagKey{}, pc), time.Minute)
	defer cancel()
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

func (p *faultProxy) modifyResponse(resp *http.Response) error {
	pc, _ := resp.Request.Context().Value(tagKey{}).(*proxyCtx)
	if pc == nil {
		return nil
	}
	if pc.tag != "" && resp.Request.Method == http.MethodPost && resp.StatusCode/100 == 2 {
		p.mu.Lock()
		p.accepted[pc.tag]++
		p.mu.Unlock()
	}
	if pc.after > 0 {
		time.Sleep(pc.after) // the spike: the answer is late
	}
	return nil
}

// Accepted returns the number of accepted submissions per prompt tag.
func (p *faultProxy) Accepted() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.accepted))
	for k, v := range p.accepted {
		out[k] = v
	}
	return out
}

// Close stops the proxy.
func (p *faultProxy) Close() { _ = p.srv.Close() }

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
