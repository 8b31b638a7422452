package output

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
)

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	c := Config{Bucket: "b-1"}.WithDefaults()
	require.Equal(t, PrefixDefault, c.Prefix)
	require.Equal(t, MaxBytesDefault, c.MaxBytes)
	require.Equal(t, URLStyleGS, c.URLStyle)
	require.Equal(t, ChunkSizeDefault, c.ChunkSize)
	require.NotNil(t, c.HTTPClient)
	require.NoError(t, c.Validate())

	c = Config{Bucket: "b-1", Prefix: "/a/b/"}.WithDefaults()
	require.Equal(t, "a/b", c.Prefix)
	require.Equal(t, "a/b/0d9e/2.mp4", c.ObjectName("0d9e", 2))
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		mod  func(*Config)
		want string // in the error; "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"dotted bucket", func(c *Config) { c.Bucket = "outputs.aiprod.example" }, ""},
		{"no bucket", func(c *Config) { c.Bucket = "" }, "AIPROD_OUTPUT_BUCKET"},
		{"gs bucket", func(c *Config) { c.Bucket = "gs://outputs" }, "without gs://"},
		{"upper bucket", func(c *Config) { c.Bucket = "Outputs" }, "Config.Bucket"},
		{"dot prefix", func(c *Config) { c.Prefix = "a/../b" }, "Config.Prefix"},
		{"empty segment", func(c *Config) { c.Prefix = "a//b" }, "Config.Prefix"},
		{"control prefix", func(c *Config) { c.Prefix = "a\nb" }, "Config.Prefix"},
		{"max bytes", func(c *Config) { c.MaxBytes = -1 }, "Config.MaxBytes"},
		{"chunk size", func(c *Config) { c.ChunkSize = -1 }, "Config.ChunkSize"},
		{"url style", func(c *Config) { c.URLStyle = "http" }, "Config.URLStyle"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Bucket: "aiprod-outputs"}.WithDefaults()
			c.mod(&cfg)
			err := cfg.Validate()
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestObjectURL(t *testing.T) {
	t.Parallel()
	c := Config{Bucket: "b-1"}.WithDefaults()
	require.Equal(t, "gs://b-1/videos/j/1.mp4", c.ObjectURL("videos/j/1.mp4"))
	c.URLStyle = URLStyleHTTPS
	require.Equal(t, "https://storage.googleapis.com/b-1/videos/j/1.mp4", c.ObjectURL("videos/j/1.mp4"))
	require.Equal(t, "https://storage.googleapis.com/b-1/a%20b/c%3Fd%23e.mp4", c.ObjectURL("a b/c?d#e.mp4"))
}

func TestParseSource(t *testing.T) {
	t.Parallel()
	s, err := parseSource("gs://veo-out/job/1/sample 0.mp4")
	require.NoError(t, err)
	require.Equal(t, source{gs: true, bucket: "veo-out", object: "job/1/sample 0.mp4"}, s)

	s, err = parseSource("https://cdn.example/v.mp4?sig=1")
	require.NoError(t, err)
	require.Equal(t, "cdn.example", s.u.Host)

	for _, bad := range []string{"gs://veo-out", "gs://veo-out/", "gs:///o", "file:///x", "HTTP//x", "https:///x", "http://[::1"} {
		_, err := parseSource(bad)
		require.ErrorIs(t, err, errclass.Permanent, bad)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://u:p@cdn.example/a/b.mp4?X-Goog-Signature=s#f": "https://cdn.example/a/b.mp4?…",
		"http://cdn.example:8080/a%2Fb.mp4":                    "http://cdn.example:8080/a%2Fb.mp4",
		"https://cdn.example/v.mp4?":                           "https://cdn.example/v.mp4?…",
	} {
		u, err := url.Parse(in)
		require.NoError(t, err)
		assert.Equal(t, want, redact(u), in)
	}
}

func TestContentType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                              "video/mp4",
		"application/octet-stream":      "video/mp4",
		"Binary/Octet-Stream":           "video/mp4",
		";;":                            "video/mp4",
		"video/webm":                    "video/webm",
		"Video/MP4; codecs=\"avc1.64\"": "video/mp4; codecs=avc1.64",
	} {
		assert.Equal(t, want, contentType(in), in)
	}
}

func TestStatusError(t *testing.T) {
	t.Parallel()
	for code, class := range map[int]error{
		404: errclass.Permanent, 410: errclass.Permanent, 400: errclass.Permanent, 409: errclass.Permanent,
		204: errclass.Permanent, 302: errclass.Permanent,
		500: errclass.Retryable, 503: errclass.Retryable, 429: errclass.Retryable, 408: errclass.Retryable,
		401: errclass.Retryable, 403: errclass.Retryable,
	} {
		err := statusError(&http.Response{StatusCode: code, Header: http.Header{}}, "https://cdn.example/v.mp4")
		assert.Equal(t, class, errclass.Of(err), "%d", code)
	}
}

func TestSourceReader(t *testing.T) {
	t.Parallel()
	r := &sourceReader{r: strings.NewReader("0123456789"), max: 10, src: "s"}
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	require.NoError(t, err)
	require.Equal(t, 10, n)
	_, err = r.Read(buf)
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, r.complete(10))
	require.ErrorIs(t, r.complete(11), errclass.Retryable)

	r = &sourceReader{r: strings.NewReader("0123456789A"), max: 10, src: "s"}
	_, err = r.Read(buf)
	require.ErrorIs(t, err, errclass.Permanent)
	require.ErrorIs(t, r.Err, errclass.Permanent)
}
