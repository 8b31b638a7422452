package output

import (
	"io"
	"net/http"
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
	require.False(t, c.AllowPrivateNetworks, "private networks are refused unless asked for")
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
		{"source folder", func(c *Config) { c.SourceFolders = []string{"veo", "a/../b"} }, "Config.SourceFolders"},
		{"root source folder", func(c *Config) { c.SourceFolders = []string{""} }, ""},
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

// TestVideoType: video/* types pass as declared; generic or missing ones
// pass only when the bytes are those of a video file; anything else is
// not a video (Permanent), whatever the bytes.
func TestVideoType(t *testing.T) {
	t.Parallel()
	mp4 := []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00")
	mov := []byte("\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00")
	webm := []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81")
	html := []byte("<!doctype html><html>")
	for _, c := range []struct {
		declared string
		head     []byte
		want     string // "" for refused
	}{
		{"video/mp4", html, "video/mp4"},
		{"Video/MP4; codecs=\"avc1.64\"", nil, "video/mp4; codecs=avc1.64"},
		{"video/webm", nil, "video/webm"},
		{"", mp4, "video/mp4"},
		{"application/octet-stream", mp4, "video/mp4"},
		{"Binary/Octet-Stream", mov, "video/quicktime"},
		{"application/mp4", mp4, "video/mp4"},
		{";;", webm, "video/webm"},
		{"", html, ""},
		{"application/octet-stream", html, ""},
		{"application/octet-stream", []byte("ftyp"), ""},
		{"text/html; charset=utf-8", mp4, ""},
		{"application/json", mp4, ""},
		{"image/png", mp4, ""},
		{"text/plain", mp4, ""},
	} {
		calls := 0
		got, err := videoType("https://cdn.example/v.mp4", c.declared, func() ([]byte, error) { calls++; return c.head, nil })
		if c.want == "" {
			require.ErrorIs(t, err, errclass.Permanent, "%q %q", c.declared, c.head)
			require.ErrorContains(t, err, "https://cdn.example/v.mp4")
			continue
		}
		require.NoError(t, err, "%q %q", c.declared, c.head)
		assert.Equal(t, c.want, got, "%q %q", c.declared, c.head)
		if strings.HasPrefix(strings.ToLower(c.declared), "video/") {
			assert.Zero(t, calls, "%q: read the body to judge a video type", c.declared)
		}
	}
}

// TestCheckGS: gs:// sources are accepted only in the output bucket, under
// this job's folder of Prefix or of a SourceFolders entry.
func TestCheckGS(t *testing.T) {
	t.Parallel()
	cfg := Config{Bucket: "outs", SourceFolders: []string{"/veo/", ""}}.WithDefaults()
	require.NoError(t, cfg.Validate())
	for u, ok := range map[string]bool{
		"gs://outs/veo/job-1/1/op/sample_0.mp4": true,
		"gs://outs/videos/job-1/2.mp4":          true,
		"gs://outs/job-1/1/sample_0.mp4":        true,
		"gs://outs/veo/job-2/1/sample_0.mp4":    false, // another job's
		"gs://outs/videos/job-2/1.mp4":          false,
		"gs://outs/veo/job-1":                   false, // the folder itself
		"gs://outs/veo/job-1/":                  false,
		"gs://outs/veo/job-1/../job-2/1.mp4":    false,
		"gs://outs/veo/job-1//x.mp4":            false,
		"gs://outs/veo/job-10/1.mp4":            false,
		"gs://outs/other/job-1/1.mp4":           false,
		"gs://elsewhere/veo/job-1/1.mp4":        false, // another bucket
	} {
		src, err := parseSource(u)
		require.NoError(t, err, u)
		err = cfg.checkGS(src, "job-1")
		if ok {
			assert.NoError(t, err, u)
			continue
		}
		if assert.ErrorIs(t, err, errclass.Permanent, u) {
			assert.ErrorContains(t, err, "gs://outs/videos/job-1/ or gs://outs/veo/job-1/ or gs://outs/job-1/", u)
		}
	}
	src, _ := parseSource("gs://elsewhere/veo/job-1/1.mp4")
	require.ErrorContains(t, cfg.checkGS(src, "job-1"), "bucket elsewhere is not the output bucket")
	src, _ = parseSource("gs://outs/veo/job-2/1.mp4")
	require.ErrorContains(t, cfg.checkGS(src, "job-1"), "not in this job's folders")
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
