package netguard_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/netguard"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://hooks.example.com/video?sig=x": "",
		"http://93.184.215.14:8080/a":           "",
		"https://[2606:4700::1111]/":            "",
		"https://xn--bcher-kva.example/":        "",
		"https://cafe.be/":                      "",
		"HTTPS://Hooks.Example.COM./x":          "",

		"http://127.0.0.1:9000/secret":           "refusing to connect to 127.0.0.1: loopback address",
		"http://[::ffff:127.0.0.1]:9000/":        "refusing to connect to ::ffff:127.0.0.1: IPv4-mapped loopback address",
		"http://[::1]/":                          "refusing to connect to ::1: loopback address",
		"http://169.254.169.254/computeMetadata": "refusing to connect to 169.254.169.254: link-local address (cloud metadata server)",
		"http://[fe80::1%25eth0]/":               "refusing to connect to fe80::1%eth0: link-local address",
		"http://10.0.0.7/":                       "refusing to connect to 10.0.0.7: private address",
		"http://localhost:8080/":                 "refusing to connect to localhost: loopback name",
		"http://LOCALHOST./":                     "refusing to connect to LOCALHOST.: loopback name",
		"http://api.localhost/":                  "refusing to connect to api.localhost: name in the local-only domain localhost",
		"http://metadata.google.internal/":       "refusing to connect to metadata.google.internal: name in the local-only domain internal",
		"http://printer.local/":                  "refusing to connect to printer.local: name in the local-only domain local",
		"http://router.home.arpa/":               "refusing to connect to router.home.arpa: name in the local-only domain home.arpa",
		"http://metadata/":                       "refusing to connect to metadata: single-label name (resolved on the local network)",
		"http://127.1/":                          "refusing to connect to 127.1: IPv4 address in a non-standard form",
		"http://2130706433/":                     "refusing to connect to 2130706433: IPv4 address in a non-standard form",
		"http://0x7f.1/":                         "refusing to connect to 0x7f.1: IPv4 address in a non-standard form",
		"http://0177.0.0.1/":                     "refusing to connect to 0177.0.0.1: IPv4 address in a non-standard form",
		"http://127%2e0%2e0%2e1/":                "URL does not parse",

		"ftp://example.com/x": `scheme "ftp" refused: only http and https`,
		"file:///etc/passwd":  `scheme "file" refused: only http and https`,
		"/relative":           `scheme "" refused: only http and https`,
		"http:///no-host":     "URL without a host",
		"http://[::1":         "URL does not parse",
	} {
		err := netguard.CheckURL(raw)
		if want == "" {
			assert.NoError(t, err, raw)
			continue
		}
		if assert.Error(t, err, raw) {
			assert.Equal(t, "netguard: "+want, err.Error(), raw)
			assert.ErrorIs(t, err, errclass.Permanent, raw)
		}
	}
}

func TestCheckURLAllowPrivate(t *testing.T) {
	t.Parallel()
	p := netguard.Policy{AllowPrivate: true}
	for _, raw := range []string{"http://127.0.0.1:9000/", "http://localhost/", "http://[::ffff:127.0.0.1]/"} {
		require.NoError(t, p.CheckURL(raw), raw)
	}
	require.ErrorIs(t, p.CheckURL("file:///etc/passwd"), errclass.Permanent, "schemes are checked even so")
}

// TestCheckURLNeverShowsCredentials: whatever is wrong, the error shows no
// userinfo or query.
func TestCheckURLNeverShowsCredentials(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"http://user:hunter2@127.0.0.1/?token=s3cr3t",
		"ftp://user:hunter2@example.com/?token=s3cr3t",
		"http://user:hunter2@[::1/?token=s3cr3t",
		"http://user:hunter2@localhost/?token=s3cr3t",
	} {
		err := netguard.CheckURL(raw)
		require.Error(t, err, raw)
		require.NotContains(t, err.Error(), "hunter2")
		require.NotContains(t, err.Error(), "s3cr3t")
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
		assert.Equal(t, want, netguard.Redact(u), in)
	}
}
