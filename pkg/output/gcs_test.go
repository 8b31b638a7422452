package output_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/output"
	"github.com/aiprod/aiprod/pkg/output/outputtest"
)

const (
	testBucket  = "aiprod-outputs"
	otherBucket = "aiprod-veo"
)

// fake is a fake-gcs-server listening on a port of its own, with the
// output bucket (versioned, so that every write leaves a generation to
// count) and another bucket.
type fake struct {
	srv    *fakestorage.Server
	client *storage.Client
}

func newFake(t *testing.T) *fake {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1"})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: testBucket, VersioningEnabled: true})
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: otherBucket})
	client, err := storage.NewClient(t.Context(),
		option.WithEndpoint(srv.URL()+"/storage/v1/"), option.WithoutAuthentication(),
		storage.WithJSONReads()) // fake-gcs-server serves XML reads only on its public host
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return &fake{srv: srv, client: client}
}

func (f *fake) get(t *testing.T, bucket, name string) (output.Object, bool) {
	t.Helper()
	obj := f.client.Bucket(bucket).Object(name)
	attrs, err := obj.Attrs(t.Context())
	if errors.Is(err, storage.ErrObjectNotExist) {
		return output.Object{}, false
	}
	require.NoError(t, err)
	r, err := obj.NewReader(t.Context())
	require.NoError(t, err)
	defer r.Close()
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	return output.Object{Data: data, ContentType: attrs.ContentType, Metadata: attrs.Metadata}, true
}

func (f *fake) put(t *testing.T, bucket, name string, o output.Object) {
	t.Helper()
	f.srv.CreateObject(fakestorage.Object{
		ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name, ContentType: o.ContentType},
		Content:     o.Data,
	})
}

// generations counts the object generations under prefix, live or not.
func (f *fake) generations(t *testing.T, prefix string) int {
	t.Helper()
	it := f.client.Bucket(testBucket).Objects(t.Context(), &storage.Query{Prefix: prefix, Versions: true})
	n := 0
	for {
		_, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return n
		}
		require.NoError(t, err)
		n++
	}
}

func newGCS(t *testing.T, f *fake, cfg output.Config) *output.GCS {
	t.Helper()
	cfg.Bucket = testBucket
	cfg.Client = f.client
	g, err := output.NewGCS(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, g.Close()) })
	return g
}

func TestGCSConformance(t *testing.T) {
	t.Parallel()
	outputtest.Run(t, func(t *testing.T, cfg output.Config) outputtest.Harness {
		f := newFake(t)
		g := newGCS(t, f, cfg)
		return outputtest.Harness{
			Copier:      g,
			Config:      g.Config(),
			OtherBucket: otherBucket,
			Get:         f.get,
			Put:         f.put,
			Writes:      func(t *testing.T) int { return f.generations(t, g.Config().Prefix+"/") },
		}
	})
}

// TestGCSEmulatorHost builds the client from the environment, as the
// worker does (not parallel: it sets an environment variable).
func TestGCSEmulatorHost(t *testing.T) {
	f := newFake(t)
	u, err := url.Parse(f.srv.URL())
	require.NoError(t, err)
	t.Setenv("STORAGE_EMULATOR_HOST", u.Host)

	g, err := output.NewGCS(t.Context(), output.Config{Bucket: testBucket, AllowPrivateNetworks: true})
	require.NoError(t, err)
	data := outputtest.Video(1, 1000)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(data)
	}))
	defer src.Close()

	got, err := g.Copy(t.Context(), "job-env", 1, src.URL+"/v.mp4")
	require.NoError(t, err)
	require.Equal(t, "gs://"+testBucket+"/videos/job-env/1.mp4", got)
	o, ok := f.get(t, testBucket, "videos/job-env/1.mp4")
	require.True(t, ok)
	require.Equal(t, data, o.Data)
	require.NoError(t, g.Close()) // closes the client it created
}

// TestGCSGenerationKept checks that a second copy leaves the object as the
// first one wrote it.
func TestGCSGenerationKept(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	g := newGCS(t, f, output.Config{AllowPrivateNetworks: true})
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(outputtest.Video(2, 1000))
	}))
	defer src.Close()

	_, err := g.Copy(t.Context(), "job-gen", 1, src.URL+"/v.mp4")
	require.NoError(t, err)
	first, err := f.client.Bucket(testBucket).Object("videos/job-gen/1.mp4").Attrs(t.Context())
	require.NoError(t, err)
	_, err = g.Copy(t.Context(), "job-gen", 1, src.URL+"/v.mp4")
	require.NoError(t, err)
	second, err := f.client.Bucket(testBucket).Object("videos/job-gen/1.mp4").Attrs(t.Context())
	require.NoError(t, err)
	require.Equal(t, first.Generation, second.Generation)
	require.Equal(t, 1, f.generations(t, "videos/"))
}

// TestGCSLarge copies a video larger than the upload chunk, which goes up
// as a resumable upload in several requests, and checks that a source cut
// off after the first chunk leaves nothing.
func TestGCSLarge(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	g := newGCS(t, f, output.Config{ChunkSize: 256 << 10, AllowPrivateNetworks: true})
	data := outputtest.Video(3, 1<<20+100)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if r.URL.Path == "/cut.mp4" {
			_, _ = w.Write(data[:600<<10])
			return // the server closes the connection: unexpected EOF
		}
		_, _ = w.Write(data)
	}))
	defer src.Close()

	_, err := g.Copy(t.Context(), "job-large", 1, src.URL+"/cut.mp4")
	require.ErrorIs(t, err, errclass.Retryable)
	_, ok := f.get(t, testBucket, "videos/job-large/1.mp4")
	require.False(t, ok)

	_, err = g.Copy(t.Context(), "job-large", 1, src.URL+"/v.mp4")
	require.NoError(t, err)
	o, ok := f.get(t, testBucket, "videos/job-large/1.mp4")
	require.True(t, ok)
	require.Equal(t, len(data), len(o.Data))
	require.Equal(t, data, o.Data)
	require.Equal(t, 1, f.generations(t, "videos/"))
}

// TestGCSStorageErrors: failures of the output bucket are Retryable, never
// the job's fault.
func TestGCSStorageErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(outputtest.Video(4, 1000))
	}))
	defer src.Close()

	missing, err := output.NewGCS(t.Context(), output.Config{Bucket: "no-such-bucket", Client: f.client, AllowPrivateNetworks: true})
	require.NoError(t, err)
	_, err = missing.Copy(t.Context(), "job-x", 1, src.URL+"/v.mp4")
	require.ErrorIs(t, err, errclass.Retryable)
	_, err = missing.Copy(t.Context(), "job-x", 1, "gs://"+otherBucket+"/nothing.mp4")
	require.ErrorIs(t, err, errclass.Permanent, "another bucket is refused, whatever the output bucket")

	// Cloud Storage unreachable: the client retries until ctx ends.
	down := newFake(t)
	g := newGCS(t, down, output.Config{AllowPrivateNetworks: true})
	down.srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err = g.Copy(ctx, "job-x", 1, src.URL+"/v.mp4")
	require.ErrorIs(t, err, errclass.Retryable)
}
