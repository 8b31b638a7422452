package output

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/netguard"
)

// Copier stores finished videos in AIPROD's output bucket.
type Copier interface {
	// Copy stores the video at srcURL as the output of attempt of job jobID
	// and returns the URL to record as the job's result.
	//
	// It is idempotent: copying the same (jobID, attempt) again, after a
	// success or concurrently, yields the same object and URL and never a
	// second object. Errors are classified with errclass: Permanent when the
	// source can never be copied (gone: 404/410; larger than MaxBytes; a
	// scheme other than http, https or gs; invalid arguments), Retryable for
	// anything that may pass later (source 5xx, 429, timeouts, network and
	// storage errors). Errors never contain the source's query string or
	// userinfo, where signed URLs carry their credentials. Safe for
	// concurrent use; ctx bounds the whole copy.
	Copy(ctx context.Context, jobID string, attempt int, srcURL string) (string, error)
}

// Defaults of Config.
const (
	// PrefixDefault is the folder of the objects: videos/<job_id>/<attempt>.mp4.
	PrefixDefault = "videos"
	// MaxBytesDefault is the largest video copied: 2 GiB.
	MaxBytesDefault int64 = 2 << 30
	// URLStyleDefault is the style of the URLs Copy returns.
	URLStyleDefault = URLStyleGS
	// ChunkSizeDefault is the storage client's own default upload chunk.
	ChunkSizeDefault = 16 << 20
	// ContentTypeDefault is the content type of an object whose source
	// named none, or only a generic type, and starts like an MP4 file.
	ContentTypeDefault = "video/mp4"
)

// URL styles of Config.URLStyle.
const (
	URLStyleGS    = "gs"    // gs://bucket/object
	URLStyleHTTPS = "https" // https://storage.googleapis.com/bucket/object
)

// Config configures a Copier.
type Config struct {
	// Bucket is the output bucket's name, without gs:// (usually read from
	// AIPROD_OUTPUT_BUCKET). Required.
	Bucket string
	// Prefix is the folder the objects go in, without leading or trailing
	// slash; PrefixDefault when empty.
	Prefix string
	// Client talks to Cloud Storage. When nil NewGCS creates one with
	// Application Default Credentials (storage.NewClient, which honours
	// STORAGE_EMULATOR_HOST) and closes it on Close. Not used by Memory.
	Client *storage.Client
	// AllowPrivateNetworks lets http(s) sources and their redirects reach
	// loopback, private, link-local and unique-local addresses (package
	// netguard), which are refused otherwise: the dev stack and tests,
	// whose sources listen on loopback. Services read it from
	// AIPROD_ALLOW_PRIVATE_NETWORKS (default false).
	AllowPrivateNetworks bool
	// Resolver and Dial replace the system resolver and dialer under the
	// network guard (netguard.Policy's fields, for tests); nil: the
	// system's.
	Resolver netguard.Resolver
	Dial     netguard.DialFunc
	// SourceFolders are folders of Bucket where providers write a job's
	// videos themselves as <folder>/<job id>/... (Veo: the folder of
	// AIPROD_VEO_STORAGE_URI, e.g. "veo"; "" is the bucket's root). gs://
	// sources are accepted only in Bucket, under <Prefix>/<job id>/ or
	// <folder>/<job id>/ for a folder here.
	SourceFolders []string
	// MaxBytes is the largest source copied; MaxBytesDefault when zero.
	MaxBytes int64
	// URLStyle is URLStyleGS (default) or URLStyleHTTPS.
	URLStyle string
	// ChunkSize is the size of the requests an upload is sent in, and of
	// the buffer each copy in progress holds (a failed request is sent again
	// from it); ChunkSizeDefault when zero, rounded up to a multiple of
	// 256 KiB. Videos up to that size go up in one request. Not used by
	// Memory.
	ChunkSize int
}

// WithDefaults returns c with the defaults of its zero fields applied.
func (c Config) WithDefaults() Config {
	c.Prefix = cmp.Or(strings.Trim(c.Prefix, "/"), PrefixDefault)
	c.MaxBytes = cmp.Or(c.MaxBytes, MaxBytesDefault)
	c.URLStyle = cmp.Or(c.URLStyle, URLStyleDefault)
	c.ChunkSize = cmp.Or(c.ChunkSize, ChunkSizeDefault)
	if c.SourceFolders != nil {
		folders := make([]string, len(c.SourceFolders))
		for i, f := range c.SourceFolders {
			folders[i] = strings.Trim(f, "/")
		}
		c.SourceFolders = folders
	}
	return c
}

// bucketRE is a Cloud Storage bucket name (dotted names may be longer, up
// to 222 characters, in segments of at most 63).
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)

// Validate reports the first invalid field of c, after WithDefaults.
func (c Config) Validate() error {
	if c.Bucket == "" {
		return errors.New("output: Config.Bucket is empty (usually read from AIPROD_OUTPUT_BUCKET)")
	}
	if !bucketRE.MatchString(c.Bucket) {
		return fmt.Errorf("output: Config.Bucket %q (AIPROD_OUTPUT_BUCKET) must be a bucket name such as aiprod-outputs, without gs://", c.Bucket)
	}
	if err := validPrefix(c.Prefix); err != nil {
		return fmt.Errorf("output: Config.Prefix %q %w", c.Prefix, err)
	}
	for _, f := range c.SourceFolders {
		if err := validPrefix(f); f != "" && err != nil {
			return fmt.Errorf("output: Config.SourceFolders: %q %w", f, err)
		}
	}
	if c.MaxBytes <= 0 {
		return fmt.Errorf("output: Config.MaxBytes must be positive, got %d", c.MaxBytes)
	}
	if c.ChunkSize < 0 {
		return fmt.Errorf("output: Config.ChunkSize must not be negative, got %d", c.ChunkSize)
	}
	if c.URLStyle != URLStyleGS && c.URLStyle != URLStyleHTTPS {
		return fmt.Errorf("output: Config.URLStyle must be %q or %q, got %q", URLStyleGS, URLStyleHTTPS, c.URLStyle)
	}
	return nil
}

func validPrefix(p string) error {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return errors.New("must be slash-separated names without empty, . or .. segments")
		}
		if strings.ContainsFunc(seg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return errors.New("must not contain control characters")
		}
	}
	return nil
}

// ObjectName is the object that holds the video of attempt of job jobID:
// <Prefix>/<job_id>/<attempt>.mp4 (after WithDefaults).
func (c Config) ObjectName(jobID string, attempt int) string {
	return c.Prefix + "/" + jobID + "/" + strconv.Itoa(attempt) + ".mp4"
}

// ObjectURL is the URL of object in Bucket, in URLStyle (after WithDefaults).
func (c Config) ObjectURL(object string) string {
	return objectURL(c.URLStyle, c.Bucket, object)
}

func objectURL(style, bucket, object string) string {
	if style == URLStyleHTTPS {
		segs := strings.Split(object, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		return "https://storage.googleapis.com/" + bucket + "/" + strings.Join(segs, "/")
	}
	return "gs://" + bucket + "/" + object
}

// jobIDRE is what may stand in an object name as a job id: job ids are
// UUIDs, this leaves room without allowing slashes or dot segments.
var jobIDRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)

// checkArgs validates Copy's arguments; errors are Permanent.
func checkArgs(jobID string, attempt int) error {
	if !jobIDRE.MatchString(jobID) || strings.Contains(jobID, "..") {
		return errclass.New(errclass.Permanent, "output: invalid job id %q", jobID)
	}
	if attempt < 1 {
		return errclass.New(errclass.Permanent, "output: job %s: invalid attempt %d", jobID, attempt)
	}
	return nil
}

// copyVideo is what every Copier's Copy does around its own copy: check
// the arguments, parse the source, name the object, and wrap copy's error
// with the job and attempt.
func copyVideo(cfg Config, jobID string, attempt int, srcURL string, copy func(src source, name string) (string, error)) (string, error) {
	if err := checkArgs(jobID, attempt); err != nil {
		return "", err
	}
	src, err := parseSource(srcURL)
	if err != nil {
		return "", err
	}
	if src.gs {
		if err := cfg.checkGS(src, jobID); err != nil {
			return "", err
		}
	}
	u, err := copy(src, cfg.ObjectName(jobID, attempt))
	if err != nil {
		return "", fmt.Errorf("output: copy video of job %s attempt %d: %w", jobID, attempt, err)
	}
	return u, nil
}

// source is a parsed source URL.
type source struct {
	gs             bool
	bucket, object string   // when gs
	u              *url.URL // when http(s)
}

// parseSource accepts http(s) URLs and gs://bucket/object URIs (raw object
// names, as gsutil and Vertex AI write them); anything else is Permanent.
func parseSource(src string) (source, error) {
	if rest, ok := strings.CutPrefix(src, "gs://"); ok {
		bucket, object, _ := strings.Cut(rest, "/")
		if !bucketRE.MatchString(bucket) || object == "" {
			return source{}, errclass.New(errclass.Permanent, "output: source %q is not gs://bucket/object", redactGS(src))
		}
		return source{gs: true, bucket: bucket, object: object}, nil
	}
	u, err := url.Parse(src)
	if err != nil {
		// url.Parse errors quote the whole input, credentials included.
		return source{}, errclass.New(errclass.Permanent, "output: source URL does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return source{}, errclass.New(errclass.Permanent, "output: source scheme %q refused: only http, https and gs are copied", u.Scheme)
	}
	if u.Host == "" {
		return source{}, errclass.New(errclass.Permanent, "output: source URL %s has no host", netguard.Redact(u))
	}
	return source{u: u}, nil
}

// checkGS refuses a gs:// source that is not this job's own: in another
// bucket than Bucket (the worker's identity may read buckets that are none
// of the job's business), or not under one of the job's folders (another
// job's video, or anything else in the bucket). Errors are Permanent.
func (c Config) checkGS(src source, jobID string) error {
	folders := c.jobFolders(jobID)
	if src.bucket == c.Bucket {
		for _, f := range folders {
			if rest, ok := strings.CutPrefix(src.object, f); ok && validPrefix(rest) == nil {
				return nil
			}
		}
	}
	shown := make([]string, len(folders))
	for i, f := range folders {
		shown[i] = "gs://" + c.Bucket + "/" + f
	}
	why := "not in this job's folders"
	if src.bucket != c.Bucket {
		why = "bucket " + src.bucket + " is not the output bucket"
	}
	return errclass.New(errclass.Permanent, "output: source %s refused: %s; gs:// sources are taken only from %s",
		redactGS("gs://"+src.bucket+"/"+src.object), why, strings.Join(shown, " or "))
}

// jobFolders are the object prefixes in Bucket under which the videos of
// job jobID may be: <folder>/<jobID>/ for Prefix and each of
// SourceFolders.
func (c Config) jobFolders(jobID string) []string {
	var fs []string
	for _, f := range append([]string{c.Prefix}, c.SourceFolders...) {
		if f != "" {
			f += "/"
		}
		fs = append(fs, f+jobID+"/")
	}
	return fs
}

// redactGS shortens a malformed gs:// string to something safe to show.
func redactGS(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
