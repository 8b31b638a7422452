package output

import (
	"bytes"
	"context"
	"io"
	"maps"
	"sync"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// Object is an object held by Memory.
type Object struct {
	Data        []byte
	ContentType string
	Metadata    map[string]string
}

// Memory is a Copier that keeps its buckets in memory, for tests of its
// callers; it is not for production. It downloads http(s) sources like GCS
// (same limits, same error classes) and copies gs:// sources between its
// own buckets, which Put fills. Its URLs are those GCS would return.
// Safe for concurrent use.
type Memory struct {
	cfg   Config
	fetch *fetcher

	mu      sync.Mutex
	objects map[string]Object // by bucket + "/" + name
	writes  int
}

var _ Copier = (*Memory)(nil)

// NewMemory returns an empty Memory; cfg is applied its defaults and
// validated as by NewGCS (cfg.Client is ignored).
func NewMemory(cfg Config) (*Memory, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Memory{cfg: cfg, fetch: newFetcher(cfg), objects: map[string]Object{}}, nil
}

// Config returns the configuration in force, defaults applied.
func (m *Memory) Config() Config { return m.cfg }

// Put stores an object, replacing any of that name; it does not count as
// a write.
func (m *Memory) Put(bucket, name string, o Object) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[bucket+"/"+name] = clone(o)
}

// Get returns a copy of an object.
func (m *Memory) Get(bucket, name string) (Object, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[bucket+"/"+name]
	return clone(o), ok
}

// Writes is the number of objects Copy created.
func (m *Memory) Writes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes
}

func clone(o Object) Object {
	o.Data = bytes.Clone(o.Data)
	o.Metadata = maps.Clone(o.Metadata)
	return o
}

// create stores o unless the object exists (the DoesNotExist precondition).
func (m *Memory) create(name string, o Object) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := m.cfg.Bucket + "/" + name
	if _, ok := m.objects[key]; ok {
		return
	}
	m.objects[key] = o
	m.writes++
}

// Copy implements Copier.
func (m *Memory) Copy(ctx context.Context, jobID string, attempt int, srcURL string) (string, error) {
	return copyVideo(m.cfg, jobID, attempt, srcURL, func(src source, name string) (string, error) {
		return m.copy(ctx, src, name, jobID, attempt)
	})
}

func (m *Memory) copy(ctx context.Context, src source, name, jobID string, attempt int) (string, error) {
	if src.gs {
		so, ok := m.Get(src.bucket, src.object)
		if !ok {
			return "", errclass.New(errclass.Permanent, "source gs://%s/%s does not exist", src.bucket, src.object)
		}
		head := func() ([]byte, error) { return so.Data[:min(len(so.Data), sniffLen)], nil }
		if err := checkGSVideo(src, int64(len(so.Data)), so.ContentType, head); err != nil {
			return "", err
		}
		return m.cfg.ObjectURL(src.object), nil
	}
	if _, ok := m.Get(m.cfg.Bucket, name); ok {
		return m.cfg.ObjectURL(name), nil
	}
	if err := ctx.Err(); err != nil {
		return "", errclass.Wrap(errclass.Retryable, err, "copy")
	}
	d, err := m.fetch.open(ctx, src.u)
	if err != nil {
		return "", err
	}
	defer d.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, d.Body); err != nil {
		return "", err
	}
	if err := d.Body.complete(d.Length); err != nil {
		return "", err
	}
	m.create(name, Object{Data: buf.Bytes(), ContentType: d.ContentType, Metadata: metadata(jobID, attempt)})
	return m.cfg.ObjectURL(name), nil
}
