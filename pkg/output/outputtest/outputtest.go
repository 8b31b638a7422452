// Package outputtest is the conformance suite of output.Copier. Every
// implementation runs it: output.Memory in every test run, output.GCS
// against fake-gcs-server in process (and against Cloud Storage or its
// emulator when one is configured).
//
// # What it asserts
//
// For http(s) sources, served by httptest servers: the object's name, URL,
// bytes, content type and metadata; idempotence (a second copy returns the
// same URL without downloading or writing again); concurrent copies of one
// attempt create one object and all return its URL; the error classes
// (404/410 Permanent, 5xx/429/timeouts/refused connections Retryable with
// Retry-After carried, over MaxBytes Permanent with or without
// Content-Length, a truncated body Retryable and nothing written, other
// schemes and redirects to them Permanent, invalid job ids and attempts
// Permanent); that errors never contain a source's userinfo or query; that
// a source that is not a video (text/html, or untyped bytes that are not a
// video file) is Permanent; and the network guard: without
// AllowPrivateNetworks, a source on loopback (by address, IPv4-mapped
// address or name), a redirect to loopback and a name that rebinds to
// loopback are refused (Permanent) before any byte is requested from them,
// while a public host (an injected resolver and dialer standing for one) is
// copied. The other cases allow private networks: their servers listen on
// loopback.
//
// For gs:// sources: this job's object in the output bucket (under the
// job's folder of Prefix or of SourceFolders, "veo" in the suite) is
// returned as is and nothing is written; another job's object, an object
// elsewhere in the bucket and any object of another bucket are refused
// (Permanent); missing, empty and non-video sources are Permanent.
//
// It does not assert how much memory a copy takes. The suite never sleeps to wait: it waits on channels with a
// deadline.
package outputtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/output"
)

// Timeout bounds every wait of the suite.
const Timeout = 10 * time.Second

// MaxBytes is the Config.MaxBytes the suite asks for; its videos are
// smaller, its oversized sources larger.
const MaxBytes = 256 << 10

// Harness is one Copier under test, with access to its storage.
type Harness struct {
	Copier output.Copier
	// Config is the Copier's configuration, defaults applied.
	Config output.Config
	// OtherBucket is a bucket other than Config.Bucket that Put writes to
	// (gs:// sources there are refused).
	OtherBucket string
	// Get reads an object; ok is false when it does not exist.
	Get func(t *testing.T, bucket, name string) (o output.Object, ok bool)
	// Put stores an object in Config.Bucket or OtherBucket.
	Put func(t *testing.T, bucket, name string, o output.Object)
	// Writes is the number of objects created under Config.Prefix in
	// Config.Bucket so far, counting every generation (an overwrite counts
	// again). Put writes outside Config.Prefix.
	Writes func(t *testing.T) int
}

// NewHarness builds a Harness from cfg: it sets cfg.Bucket (and Client),
// keeps the other fields, and registers its cleanup with t.Cleanup. Each
// call must return storage of its own.
type NewHarness func(t *testing.T, cfg output.Config) Harness

// Run runs the conformance suite. Cases run in parallel.
func Run(t *testing.T, newHarness NewHarness) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s suite)
	}{
		{"CopyHTTP", testCopyHTTP},
		{"ContentType", testContentType},
		{"Idempotent", testIdempotent},
		{"AttemptsAreDistinct", testAttemptsAreDistinct},
		{"ConcurrentCopies", testConcurrentCopies},
		{"SourceGone", testSourceGone},
		{"SourceTransient", testSourceTransient},
		{"SourceOtherStatus", testSourceOtherStatus},
		{"Oversized", testOversized},
		{"Truncated", testTruncated},
		{"Timeout", testTimeout},
		{"ConnectionRefused", testConnectionRefused},
		{"BadScheme", testBadScheme},
		{"Redirects", testRedirects},
		{"InvalidArguments", testInvalidArguments},
		{"NoCredentialsInErrors", testNoCredentialsInErrors},
		{"NotVideo", testNotVideo},
		{"PrivateNetworksRefused", testPrivateNetworksRefused},
		{"RedirectToPrivateRefused", testRedirectToPrivateRefused},
		{"RebindingRefused", testRebindingRefused},
		{"GSSameBucket", testGSSameBucket},
		{"GSOtherJobRefused", testGSOtherJobRefused},
		{"GSOtherBucketRefused", testGSOtherBucketRefused},
		{"GSErrors", testGSErrors},
		{"URLStyleHTTPS", testURLStyleHTTPS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, suite{newHarness: newHarness})
		})
	}
}

type suite struct{ newHarness NewHarness }

// SourceFolder is the Config.SourceFolders entry of the suite: where
// providers write a job's videos in the output bucket, as Veo does.
const SourceFolder = "veo"

// harness builds a Harness with the suite's Config, modified by mods. It
// allows private networks: the suite's sources listen on loopback.
func (s suite) harness(t *testing.T, mods ...func(*output.Config)) Harness {
	cfg := output.Config{MaxBytes: MaxBytes, AllowPrivateNetworks: true, SourceFolders: []string{SourceFolder}}
	for _, m := range mods {
		m(&cfg)
	}
	h := s.newHarness(t, cfg)
	require.NotNil(t, h.Copier)
	return h
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), Timeout)
	t.Cleanup(cancel)
	return c
}

// Video returns n bytes that start like an MP4 file, different for each seed.
func Video(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	copy(b, "\x00\x00\x00\x18ftypmp42")
	return b
}

// source is an httptest server whose handler counts its requests.
type source struct {
	*httptest.Server
	hits atomic.Int64
}

func serve(t *testing.T, h http.HandlerFunc) *source {
	s := &source{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// video serves data with contentType ("" sends no Content-Type).
func video(data []byte, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if contentType == "" {
			w.Header()["Content-Type"] = nil // no sniffing
		} else {
			w.Header().Set("Content-Type", contentType)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data)
	}
}

func status(code int, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		http.Error(w, http.StatusText(code), code)
	}
}

func requireClass(t *testing.T, err error, class error) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, class, "class of %v is %v", err, errclass.Of(err))
}

// requireNothingWritten checks that the attempt's object does not exist and
// that no object was created.
func requireNothingWritten(t *testing.T, h Harness, jobID string, attempt int) {
	t.Helper()
	_, ok := h.Get(t, h.Config.Bucket, h.Config.ObjectName(jobID, attempt))
	require.False(t, ok, "object written")
	require.Zero(t, h.Writes(t), "writes")
}

func testCopyHTTP(t *testing.T, s suite) {
	h := s.harness(t)
	data := Video(1, 100<<10)
	src := serve(t, video(data, "video/mp4"))

	got, err := h.Copier.Copy(ctx(t), "job-1", 1, src.URL+"/v/abc.mp4?sig=x")
	require.NoError(t, err)

	name := h.Config.ObjectName("job-1", 1)
	require.Equal(t, h.Config.Prefix+"/job-1/1.mp4", name)
	require.Equal(t, "gs://"+h.Config.Bucket+"/"+name, got)
	o, ok := h.Get(t, h.Config.Bucket, name)
	require.True(t, ok)
	require.Equal(t, data, o.Data)
	require.Equal(t, "video/mp4", o.ContentType)
	require.Equal(t, "job-1", o.Metadata[output.MetadataJobID])
	require.Equal(t, "1", o.Metadata[output.MetadataAttempt])
	require.Equal(t, 1, h.Writes(t))
}

func testContentType(t *testing.T, s suite) {
	h := s.harness(t)
	for i, c := range []struct{ sent, want string }{
		{"", output.ContentTypeDefault},
		{"application/octet-stream", output.ContentTypeDefault},
		{"binary/octet-stream", output.ContentTypeDefault},
		{"not a / type;;", output.ContentTypeDefault},
		{"video/webm", "video/webm"},
		{"video/quicktime", "video/quicktime"},
	} {
		src := serve(t, video(Video(uint64(i), 1000), c.sent))
		_, err := h.Copier.Copy(ctx(t), "job-ct", i+1, src.URL+"/v.mp4")
		require.NoError(t, err, "sent %q", c.sent)
		o, ok := h.Get(t, h.Config.Bucket, h.Config.ObjectName("job-ct", i+1))
		require.True(t, ok)
		assert.Equal(t, c.want, o.ContentType, "sent %q", c.sent)
	}
}

func testIdempotent(t *testing.T, s suite) {
	h := s.harness(t)
	data := Video(2, 50<<10)
	src := serve(t, video(data, "video/mp4"))

	first, err := h.Copier.Copy(ctx(t), "job-2", 1, src.URL+"/v.mp4")
	require.NoError(t, err)
	second, err := h.Copier.Copy(ctx(t), "job-2", 1, src.URL+"/v.mp4")
	require.NoError(t, err)
	require.Equal(t, first, second)
	require.Equal(t, 1, h.Writes(t), "a second copy wrote again")
	require.EqualValues(t, 1, src.hits.Load(), "a second copy downloaded again")

	// Even when the source has expired since: the object is what counts.
	gone := serve(t, status(http.StatusGone))
	third, err := h.Copier.Copy(ctx(t), "job-2", 1, gone.URL+"/v.mp4")
	require.NoError(t, err)
	require.Equal(t, first, third)
	require.Equal(t, 1, h.Writes(t))
}

func testAttemptsAreDistinct(t *testing.T, s suite) {
	h := s.harness(t)
	a, b := Video(3, 1000), Video(4, 1000)
	srcA, srcB := serve(t, video(a, "video/mp4")), serve(t, video(b, "video/mp4"))

	u1, err := h.Copier.Copy(ctx(t), "job-3", 1, srcA.URL+"/a.mp4")
	require.NoError(t, err)
	u2, err := h.Copier.Copy(ctx(t), "job-3", 2, srcB.URL+"/b.mp4")
	require.NoError(t, err)
	u3, err := h.Copier.Copy(ctx(t), "job-4", 1, srcB.URL+"/b.mp4")
	require.NoError(t, err)
	require.Len(t, map[string]bool{u1: true, u2: true, u3: true}, 3)
	o, _ := h.Get(t, h.Config.Bucket, h.Config.ObjectName("job-3", 1))
	require.Equal(t, a, o.Data)
	o, _ = h.Get(t, h.Config.Bucket, h.Config.ObjectName("job-3", 2))
	require.Equal(t, b, o.Data)
	require.Equal(t, 3, h.Writes(t))
}

// testConcurrentCopies holds every download until all copies have started
// theirs, so that all of them try to create the object.
func testConcurrentCopies(t *testing.T, s suite) {
	const n = 8
	h := s.harness(t)
	data := Video(5, 64<<10)
	var arrived atomic.Int64
	all := make(chan struct{})
	src := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(Timeout): // a Copier that serializes copies
		case <-r.Context().Done():
			return
		}
		video(data, "video/mp4")(w, r)
	})

	urls := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { urls[i], errs[i] = h.Copier.Copy(ctx(t), "job-5", 1, src.URL+"/v.mp4") })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, urls[0], urls[i])
	}
	require.Equal(t, 1, h.Writes(t), "concurrent copies of one attempt created several objects")
	o, ok := h.Get(t, h.Config.Bucket, h.Config.ObjectName("job-5", 1))
	require.True(t, ok)
	require.Equal(t, data, o.Data)
}

func testSourceGone(t *testing.T, s suite) {
	h := s.harness(t)
	for _, code := range []int{http.StatusNotFound, http.StatusGone} {
		src := serve(t, status(code))
		_, err := h.Copier.Copy(ctx(t), "job-6", 1, src.URL+"/v.mp4")
		requireClass(t, err, errclass.Permanent)
		require.Contains(t, err.Error(), strconv.Itoa(code))
	}
	requireNothingWritten(t, h, "job-6", 1)
}

func testSourceTransient(t *testing.T, s suite) {
	h := s.harness(t)
	for _, code := range []int{500, 502, 503, 504, 429, 408} {
		src := serve(t, status(code, "Retry-After", "7"))
		_, err := h.Copier.Copy(ctx(t), "job-7", 1, src.URL+"/v.mp4")
		requireClass(t, err, errclass.Retryable)
		d, ok := errclass.RetryAfter(err)
		require.True(t, ok, "%d: Retry-After lost", code)
		require.Equal(t, 7*time.Second, d)
	}
	requireNothingWritten(t, h, "job-7", 1)
}

func testSourceOtherStatus(t *testing.T, s suite) {
	h := s.harness(t)
	for _, c := range []struct {
		code  int
		class error
	}{
		{http.StatusBadRequest, errclass.Permanent},
		{http.StatusConflict, errclass.Permanent},
		{http.StatusNoContent, errclass.Permanent},
		{http.StatusPartialContent, errclass.Permanent},
		// As errclass.FromHTTPStatus: a refused credential is not the job's fault.
		{http.StatusForbidden, errclass.Retryable},
	} {
		src := serve(t, status(c.code))
		_, err := h.Copier.Copy(ctx(t), "job-8", 1, src.URL+"/v.mp4")
		requireClass(t, err, c.class)
		if c.class == errclass.Permanent {
			require.NotErrorIs(t, err, errclass.Retryable)
		}
	}
	// A 200 with no body is not a video; the copy may be tried again.
	empty := serve(t, video(nil, "video/mp4"))
	_, err := h.Copier.Copy(ctx(t), "job-8", 1, empty.URL+"/v.mp4")
	requireClass(t, err, errclass.Retryable)
	requireNothingWritten(t, h, "job-8", 1)
}

func testOversized(t *testing.T, s suite) {
	h := s.harness(t)
	big := Video(9, MaxBytes+1)

	// Announced by Content-Length.
	src := serve(t, video(big, "video/mp4"))
	_, err := h.Copier.Copy(ctx(t), "job-9", 1, src.URL+"/v.mp4")
	requireClass(t, err, errclass.Permanent)

	// Chunked: found out while streaming.
	chunked := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		for b := big; len(b) > 0; {
			k := min(len(b), 16<<10)
			if _, err := w.Write(b[:k]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			b = b[k:]
		}
	})
	_, err = h.Copier.Copy(ctx(t), "job-9", 1, chunked.URL+"/v.mp4")
	requireClass(t, err, errclass.Permanent)
	requireNothingWritten(t, h, "job-9", 1)

	// Exactly MaxBytes passes, chunked too.
	exact := big[:MaxBytes]
	chunkedExact := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(exact[:1000])
		w.(http.Flusher).Flush()
		_, _ = w.Write(exact[1000:])
	})
	_, err = h.Copier.Copy(ctx(t), "job-9", 2, chunkedExact.URL+"/v.mp4")
	require.NoError(t, err)
	o, ok := h.Get(t, h.Config.Bucket, h.Config.ObjectName("job-9", 2))
	require.True(t, ok)
	require.Equal(t, exact, o.Data)
}

// truncated announces all of data and sends half of it.
func truncated(data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n", len(data))
		_, _ = buf.Write(data[:len(data)/2])
		_ = buf.Flush()
	}
}

func testTruncated(t *testing.T, s suite) {
	h := s.harness(t)
	data := Video(10, 200<<10)
	src := serve(t, truncated(data))
	_, err := h.Copier.Copy(ctx(t), "job-10", 1, src.URL+"/v.mp4")
	requireClass(t, err, errclass.Retryable)
	requireNothingWritten(t, h, "job-10", 1)

	// Nothing partial stands in the way of the retry.
	good := serve(t, video(data, "video/mp4"))
	_, err = h.Copier.Copy(ctx(t), "job-10", 1, good.URL+"/v.mp4")
	require.NoError(t, err)
	o, ok := h.Get(t, h.Config.Bucket, h.Config.ObjectName("job-10", 1))
	require.True(t, ok)
	require.Equal(t, data, o.Data)
}

func testTimeout(t *testing.T, s suite) {
	h := s.harness(t)
	release := make(chan struct{})
	src := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the server closes

	// Headers late.
	c, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
	defer cancel()
	_, err := h.Copier.Copy(c, "job-11", 1, src.URL+"/v.mp4")
	requireClass(t, err, errclass.Retryable)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// Body stalls halfway.
	data := Video(11, 100<<10)
	stall := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	c2, cancel2 := context.WithTimeout(ctx(t), 300*time.Millisecond)
	defer cancel2()
	_, err = h.Copier.Copy(c2, "job-11", 1, stall.URL+"/v.mp4")
	requireClass(t, err, errclass.Retryable)
	requireNothingWritten(t, h, "job-11", 1)
}

func testConnectionRefused(t *testing.T, s suite) {
	h := s.harness(t)
	src := httptest.NewServer(http.NotFoundHandler())
	u := src.URL
	src.Close()
	_, err := h.Copier.Copy(ctx(t), "job-12", 1, u+"/v.mp4")
	requireClass(t, err, errclass.Retryable)
}

func testBadScheme(t *testing.T, s suite) {
	h := s.harness(t)
	for _, u := range []string{
		"file:///etc/passwd",
		"ftp://example.com/v.mp4",
		"data:video/mp4;base64,AAAA",
		"s3://bucket/v.mp4",
		"/relative/v.mp4",
		"http:///no-host.mp4",
		"",
		"http://[::1", // does not parse
	} {
		_, err := h.Copier.Copy(ctx(t), "job-13", 1, u)
		requireClass(t, err, errclass.Permanent)
	}
	requireNothingWritten(t, h, "job-13", 1)
}

func testRedirects(t *testing.T, s suite) {
	h := s.harness(t)
	data := Video(14, 1000)
	target := serve(t, video(data, "video/mp4"))
	src := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/to-gs":
			http.Redirect(w, r, "gs://b/o.mp4", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			http.Redirect(w, r, target.URL+"/v.mp4", http.StatusFound)
		}
	})
	for _, p := range []string{"/to-file", "/to-gs", "/loop"} {
		_, err := h.Copier.Copy(ctx(t), "job-14", 1, src.URL+p)
		requireClass(t, err, errclass.Permanent)
	}
	requireNothingWritten(t, h, "job-14", 1)

	_, err := h.Copier.Copy(ctx(t), "job-14", 1, src.URL+"/to-http")
	require.NoError(t, err)
	o, ok := h.Get(t, h.Config.Bucket, h.Config.ObjectName("job-14", 1))
	require.True(t, ok)
	require.Equal(t, data, o.Data)
}

func testInvalidArguments(t *testing.T, s suite) {
	h := s.harness(t)
	src := serve(t, video(Video(15, 1000), "video/mp4"))
	for _, c := range []struct {
		job     string
		attempt int
	}{
		{"", 1}, {"a/b", 1}, {"..", 1}, {".", 1}, {"a..b", 1}, {"job\n", 1},
		{strings.Repeat("x", 129), 1}, {"job-15", 0}, {"job-15", -1},
	} {
		_, err := h.Copier.Copy(ctx(t), c.job, c.attempt, src.URL+"/v.mp4")
		requireClass(t, err, errclass.Permanent)
	}
	require.Zero(t, src.hits.Load())
	require.Zero(t, h.Writes(t))
}

func testNoCredentialsInErrors(t *testing.T, s suite) {
	h := s.harness(t)
	const secret = "s3cr3t-SIGNATURE"
	const password = "hunter2-PASSWORD"
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL
	refused.Close()
	unavailable := serve(t, status(http.StatusServiceUnavailable))
	redirect := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///x?token="+secret, http.StatusFound)
	})
	withCreds := func(base string) string {
		return strings.Replace(base, "http://", "http://user:"+password+"@", 1) +
			"/v.mp4?X-Goog-Signature=" + secret + "&X-Amz-Security-Token=" + secret
	}
	for _, u := range []string{
		withCreds(unavailable.URL),
		withCreds(refusedURL),
		withCreds(redirect.URL),
		"ftp://user:" + password + "@example.com/v.mp4?sig=" + secret,
		"http://user:" + password + "@[::1/v.mp4?sig=" + secret,
	} {
		_, err := h.Copier.Copy(ctx(t), "job-16", 1, u)
		require.Error(t, err)
		require.NotContains(t, err.Error(), secret)
		require.NotContains(t, err.Error(), password)
	}
}

func testGSSameBucket(t *testing.T, s suite) {
	h := s.harness(t)
	data := Video(17, 1000)
	h.Put(t, h.Config.Bucket, "veo/job-17/1/sample_0.mp4", output.Object{Data: data, ContentType: "video/mp4"})

	src := "gs://" + h.Config.Bucket + "/veo/job-17/1/sample_0.mp4"
	got, err := h.Copier.Copy(ctx(t), "job-17", 1, src)
	require.NoError(t, err)
	require.Equal(t, src, got)
	require.Zero(t, h.Writes(t))
	_, ok := h.Get(t, h.Config.Bucket, h.Config.ObjectName("job-17", 1))
	require.False(t, ok, "copied within the output bucket")

	// Untyped, but a video file.
	h.Put(t, h.Config.Bucket, "veo/job-17/2/sample_0.mp4", output.Object{Data: data})
	_, err = h.Copier.Copy(ctx(t), "job-17", 2, "gs://"+h.Config.Bucket+"/veo/job-17/2/sample_0.mp4")
	require.NoError(t, err)

	_, err = h.Copier.Copy(ctx(t), "job-17", 3, "gs://"+h.Config.Bucket+"/veo/job-17/3/sample_0.mp4")
	requireClass(t, err, errclass.Permanent)
	require.ErrorContains(t, err, "does not exist")
}

// testGSOtherJobRefused: a provider that answers with another job's video
// in the output bucket (or any other object there) does not make it this
// job's result.
func testGSOtherJobRefused(t *testing.T, s suite) {
	h := s.harness(t)
	data := Video(18, 1000)
	for _, name := range []string{"veo/job-other/1/sample_0.mp4", "private/report.mp4", "veo/job-18x/1/sample_0.mp4"} {
		h.Put(t, h.Config.Bucket, name, output.Object{Data: data, ContentType: "video/mp4"})
		_, err := h.Copier.Copy(ctx(t), "job-18", 1, "gs://"+h.Config.Bucket+"/"+name)
		requireClass(t, err, errclass.Permanent)
		require.ErrorContains(t, err, "not in this job's folders", name)
	}
	requireNothingWritten(t, h, "job-18", 1)
}

// testGSOtherBucketRefused: the worker's identity may read other buckets;
// a gs:// source there is refused, not copied.
func testGSOtherBucketRefused(t *testing.T, s suite) {
	h := s.harness(t)
	h.Put(t, h.OtherBucket, "veo/job-18/1/sample_0.mp4", output.Object{Data: Video(18, 1000), ContentType: "video/mp4"})
	_, err := h.Copier.Copy(ctx(t), "job-18", 1, "gs://"+h.OtherBucket+"/veo/job-18/1/sample_0.mp4")
	requireClass(t, err, errclass.Permanent)
	require.ErrorContains(t, err, "bucket "+h.OtherBucket+" is not the output bucket")
	requireNothingWritten(t, h, "job-18", 1)
}

func testGSErrors(t *testing.T, s suite) {
	h := s.harness(t)
	own := "veo/job-19/1/"
	h.Put(t, h.Config.Bucket, own+"empty.mp4", output.Object{Data: []byte{}, ContentType: "video/mp4"})
	h.Put(t, h.Config.Bucket, own+"page.mp4", output.Object{Data: []byte("<html>secret</html>"), ContentType: "text/html"})
	h.Put(t, h.Config.Bucket, own+"untyped.mp4", output.Object{Data: []byte("<html>secret</html>")})
	for _, u := range []string{
		"gs://" + h.Config.Bucket + "/" + own + "missing.mp4",
		"gs://" + h.Config.Bucket + "/" + own + "empty.mp4",
		"gs://" + h.Config.Bucket + "/" + own + "page.mp4",
		"gs://" + h.Config.Bucket + "/" + own + "untyped.mp4",
		"gs://" + h.OtherBucket,
		"gs://" + h.OtherBucket + "/",
		"gs:///object.mp4",
		"gs://UPPER/object.mp4",
	} {
		_, err := h.Copier.Copy(ctx(t), "job-19", 1, u)
		requireClass(t, err, errclass.Permanent)
	}
	requireNothingWritten(t, h, "job-19", 1)
}

func testURLStyleHTTPS(t *testing.T, s suite) {
	h := s.harness(t, func(c *output.Config) { c.URLStyle = output.URLStyleHTTPS; c.Prefix = "/out/videos/" })
	src := serve(t, video(Video(20, 1000), "video/mp4"))
	got, err := h.Copier.Copy(ctx(t), "job-20", 3, src.URL+"/v.mp4")
	require.NoError(t, err)
	require.Equal(t, "https://storage.googleapis.com/"+h.Config.Bucket+"/out/videos/job-20/3.mp4", got)
	_, ok := h.Get(t, h.Config.Bucket, "out/videos/job-20/3.mp4")
	require.True(t, ok)

	h.Put(t, h.Config.Bucket, "veo/job-20/4/a b.mp4", output.Object{Data: Video(21, 10), ContentType: "video/mp4"})
	got, err = h.Copier.Copy(ctx(t), "job-20", 4, "gs://"+h.Config.Bucket+"/veo/job-20/4/a b.mp4")
	require.NoError(t, err)
	require.Equal(t, "https://storage.googleapis.com/"+h.Config.Bucket+"/veo/job-20/4/a%20b.mp4", got)
}
