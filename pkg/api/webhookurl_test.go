package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
)

// TestWebhookURLOnAPrivateNetwork: in services a webhook_url aimed at
// loopback, a private or link-local address, an IPv4-mapped form of one or
// a local-only name is a 400 naming the field; public hosts are accepted,
// and the dev stack (AllowPrivateNetworks) accepts loopback receivers.
func TestWebhookURLOnAPrivateNetwork(t *testing.T) {
	t.Parallel()
	e := setup(t)
	body := func(u string) string {
		return `{"prompt":"a red fox running through snow","duration_seconds":5,"webhook_url":"` + u + `"}`
	}
	for _, u := range []string{
		"http://127.0.0.1:8080/hook", "https://10.1.2.3/hook", "https://169.254.169.254/latest/meta-data",
		"https://[::ffff:127.0.0.1]/hook", "https://[fd00::1]/hook", "https://localhost/hook",
		"https://metadata.google.internal/computeMetadata/v1/", "https://2130706433/hook",
	} {
		d := requireError(t, e.do(http.MethodPost, "/v1/jobs", keyA, body(u)), http.StatusBadRequest, "invalid_request", "webhook_url")
		require.Contains(t, d.Message, "private network", u)
	}
	r := e.do(http.MethodPost, "/v1/jobs", keyA, body("https://hooks.example.com/video?token=x"))
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))

	dev := setup(t, func(c *api.Config) { c.AllowPrivateNetworks = true })
	r = dev.do(http.MethodPost, "/v1/jobs", keyA, body("http://127.0.0.1:8080/hook"))
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	require.False(t, strings.Contains(e.logs.String(), "token=x"))
}
