package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// Metadata keys set on every object Copy writes.
const (
	MetadataJobID   = "aiprod_job_id"
	MetadataAttempt = "aiprod_attempt"
)

// GCS is the Cloud Storage Copier. It keeps no per-copy state and is safe
// for concurrent use; each Copy holds one upload buffer of Config.ChunkSize
// at most, whatever the size of the video.
type GCS struct {
	cfg       Config
	client    *storage.Client
	ownClient bool
	bucket    *storage.BucketHandle
	fetch     *fetcher
}

var _ Copier = (*GCS)(nil)

// NewGCS returns a Copier into cfg.Bucket. It applies cfg's defaults and
// validates it; with a nil cfg.Client it creates a client with Application
// Default Credentials (STORAGE_EMULATOR_HOST honoured), which Close closes.
// It makes no call to Cloud Storage: a missing bucket or permission shows
// on the first Copy.
func NewGCS(ctx context.Context, cfg Config) (*GCS, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &GCS{cfg: cfg, client: cfg.Client, fetch: newFetcher(cfg)}
	if g.client == nil {
		c, err := storage.NewClient(ctx)
		if err != nil {
			return nil, fmt.Errorf("output: create storage client: %w", err)
		}
		g.client, g.ownClient = c, true
	}
	g.bucket = g.client.Bucket(cfg.Bucket)
	return g, nil
}

// Close closes the storage client when NewGCS created it; a client passed in
// Config stays open. Copy must not be called after Close.
func (g *GCS) Close() error {
	if g.ownClient {
		return g.client.Close()
	}
	return nil
}

// Config returns the configuration in force, defaults applied.
func (g *GCS) Config() Config { return g.cfg }

// Copy implements Copier. See the package documentation for the protocol.
func (g *GCS) Copy(ctx context.Context, jobID string, attempt int, srcURL string) (string, error) {
	return copyVideo(g.cfg, jobID, attempt, srcURL, func(src source, name string) (string, error) {
		return g.copy(ctx, src, name, jobID, attempt)
	})
}

// copy records a gs:// source (this job's own, in the output bucket:
// copyVideo checked) as is; otherwise it writes object name once, from an
// http(s) source.
func (g *GCS) copy(ctx context.Context, src source, name, jobID string, attempt int) (string, error) {
	if src.gs {
		// Already where it should be (Veo writing into the output bucket):
		// check it is there and a video, and record it as is.
		return g.recordGS(ctx, src)
	}
	dst := g.bucket.Object(name)
	switch ok, err := g.exists(ctx, dst); {
	case err != nil:
		return "", err
	case ok:
		return g.cfg.ObjectURL(name), nil // copied before
	}
	return g.copyHTTP(ctx, src, dst, jobID, attempt)
}

// recordGS returns the URL of the gs:// source in the output bucket once it
// has checked that the object exists and is a video.
func (g *GCS) recordGS(ctx context.Context, src source) (string, error) {
	obj := g.bucket.Object(src.object)
	attrs, err := obj.Attrs(ctx)
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return "", errclass.New(errclass.Permanent, "source gs://%s/%s does not exist", src.bucket, src.object)
	case err != nil:
		return "", gcsError(err, "stat source gs://%s/%s", src.bucket, src.object)
	}
	head := func() ([]byte, error) {
		r, err := obj.Generation(attrs.Generation).NewRangeReader(ctx, 0, sniffLen)
		if err != nil {
			return nil, gcsError(err, "read source gs://%s/%s", src.bucket, src.object)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, gcsError(err, "read source gs://%s/%s", src.bucket, src.object)
		}
		return b, nil
	}
	if err := checkGSVideo(src, attrs.Size, attrs.ContentType, head); err != nil {
		return "", err
	}
	return g.cfg.ObjectURL(src.object), nil
}

// exists reports whether obj exists already.
func (g *GCS) exists(ctx context.Context, obj *storage.ObjectHandle) (bool, error) {
	_, err := obj.Attrs(ctx)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrObjectNotExist):
		return false, nil
	default:
		return false, gcsError(err, "stat gs://%s/%s", obj.BucketName(), obj.ObjectName())
	}
}

// copyHTTP downloads src into obj, which does not exist yet.
func (g *GCS) copyHTTP(ctx context.Context, src source, obj *storage.ObjectHandle, jobID string, attempt int) (string, error) {
	name := obj.ObjectName()
	d, err := g.fetch.open(ctx, src.u)
	if err != nil {
		return "", err
	}
	defer d.Close()

	// Cancelling wctx before Close abandons the upload: nothing is
	// committed, so a partial or oversized source never becomes the object
	// that the DoesNotExist precondition would then protect.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(wctx)
	w.ChunkSize = g.cfg.ChunkSize
	w.ContentType = d.ContentType
	w.Metadata = metadata(jobID, attempt)
	_, err = io.Copy(w, d.Body)
	if err == nil {
		err = d.Body.complete(d.Length)
	}
	if err != nil {
		cancel()
		_ = w.Close()
		if d.Body.Err != nil || errclass.Of(err) != nil {
			return "", err // the source's fault, classified
		}
		return g.writeFailed(err, name, "write gs://%s/%s", g.cfg.Bucket, name)
	}
	if err := w.Close(); err != nil {
		return g.writeFailed(err, name, "write gs://%s/%s", g.cfg.Bucket, name)
	}
	if err := g.checkSize(ctx, obj, w.Attrs(), d.Body.N()); err != nil {
		return "", err
	}
	return g.cfg.ObjectURL(name), nil
}

// writeFailed is the outcome of a write of object name that failed with
// err: the object's URL when the DoesNotExist precondition refused it (a
// concurrent copy won), else err classified (see gcsError).
func (g *GCS) writeFailed(err error, name, format string, args ...any) (string, error) {
	if isPreconditionFailed(err) {
		return g.cfg.ObjectURL(name), nil
	}
	return "", gcsError(err, format, args...)
}

// checkSize compares the size of the object written with the bytes read.
// On a mismatch it deletes that generation, so that a retry can write the
// object again, and returns a Retryable error.
func (g *GCS) checkSize(ctx context.Context, obj *storage.ObjectHandle, attrs *storage.ObjectAttrs, want int64) error {
	if attrs != nil && attrs.Size == want {
		return nil
	}
	got := int64(-1)
	if attrs != nil {
		got = attrs.Size
		_ = obj.If(storage.Conditions{GenerationMatch: attrs.Generation}).Delete(context.WithoutCancel(ctx))
	}
	return errclass.New(errclass.Retryable, "gs://%s/%s has %d bytes, %d were sent; deleted", obj.BucketName(), obj.ObjectName(), got, want)
}

func metadata(jobID string, attempt int) map[string]string {
	return map[string]string{MetadataJobID: jobID, MetadataAttempt: strconv.Itoa(attempt)}
}

// isPreconditionFailed reports a write refused by its DoesNotExist
// condition: the object exists.
func isPreconditionFailed(err error) bool {
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed {
		return true
	}
	return status.Code(err) == codes.FailedPrecondition
}

// gcsError classifies an error of the output bucket's storage as Retryable,
// whatever its code: a missing bucket or permission is the deployment's
// fault, not the job's, and the storage client has retried what it retries.
func gcsError(err error, format string, args ...any) error {
	e := &errclass.Error{Class: errclass.Retryable, Msg: fmt.Sprintf(format, args...), Err: err}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		if d, ok := parseRetryAfterHeader(ge.Header); ok {
			e.RetryAfter = d
		}
	}
	return e
}

func parseRetryAfterHeader(h http.Header) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	return errclass.ParseRetryAfter(h.Get("Retry-After"), time.Now())
}
