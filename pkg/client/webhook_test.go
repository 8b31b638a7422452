package client_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/webhook"
)

// ExampleVerifyWebhook is a webhook receiver: it verifies the signature
// with the project's secret, deduplicates on webhook-id and answers 2xx
// (any other answer, or none within 10 s, is retried; 410 stops retries).
func ExampleVerifyWebhook() {
	secret := webhook.NewSecret() // from POST /v1/admin/projects/{project}/webhook-secret
	seen := map[string]bool{}     // use a shared store in production
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		ev, err := client.VerifyWebhook(secret, r.Header, body)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if id := r.Header.Get("webhook-id"); !seen[id] {
			seen[id] = true
			fmt.Println(ev.Type, ev.Data.Status)
		}
		w.WriteHeader(http.StatusNoContent)
	})

	// What the notifier sends, twice (a retry).
	body := []byte(`{"type":"job.succeeded","timestamp":"2026-12-01T09:00:00Z","data":{"id":"5f0c","status":"succeeded"}}`)
	for range 2 {
		req := httptest.NewRequest(http.MethodPost, "/hooks/video", bytes.NewReader(body))
		_ = webhook.SetHeaders(req.Header, "msg_1", time.Now(), body, secret)
		w := httptest.NewRecorder()
		receiver.ServeHTTP(w, req)
		fmt.Println(w.Code)
	}
	// Output:
	// job.succeeded succeeded
	// 204
	// 204
}

func TestVerifyWebhookRefusesTampering(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	body := []byte(`{"type":"job.failed","timestamp":"2026-12-01T09:00:00Z","data":{"id":"j1","status":"failed"}}`)
	h := http.Header{}
	require.NoError(t, webhook.SetHeaders(h, "msg_1", time.Now(), body, secret))
	ev, err := client.VerifyWebhook(secret, h, body)
	require.NoError(t, err)
	require.Equal(t, client.WebhookJobFailed, ev.Type)
	require.Equal(t, "j1", ev.Data.ID)

	_, err = client.VerifyWebhook(secret, h, bytes.Replace(body, []byte("failed"), []byte("passed"), 1))
	require.ErrorIs(t, err, webhook.ErrNoMatch)
	_, err = client.VerifyWebhook(webhook.NewSecret(), h, body)
	require.ErrorIs(t, err, webhook.ErrNoMatch)
}
