package test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/notifier"
	"github.com/aiprod/aiprod/pkg/webhook"
)

// webhookReceiver records the webhooks it gets and answers 204 (or, for
// the first failFirst requests, 500).
type webhookReceiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	got       []delivered
	failFirst int
}

type delivered struct {
	header http.Header
	body   []byte
}

func newWebhookReceiver(t *testing.T, failFirst int) *webhookReceiver {
	r := &webhookReceiver{failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, delivered{header: req.Header.Clone(), body: b})
		n := len(r.got)
		r.mu.Unlock()
		if n <= r.failFirst {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *webhookReceiver) deliveries() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivered(nil), r.got...)
}

// TestWebhookEndToEnd: through the dev stack, the admin rotates the
// project's webhook secret, a job with a webhook_url succeeds, and the
// receiver (answering 500 the first time) gets the job.succeeded webhook
// twice under one webhook-id, signed with that secret; the job's timeline
// shows both attempts in the job's trace.
func TestWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	st, c := setup(t)
	ctx := context.Background()
	admin := client.New(st.APIURL, devstack.AdminKeyDefault)
	var rotated api.RotatedSecret
	require.NoError(t, admin.Do(ctx, http.MethodPost, "/v1/admin/projects/"+devstack.ProjectDefault+"/webhook-secret", nil, &rotated))
	require.NoError(t, webhook.ParseSecret(rotated.Secret))

	rcv := newWebhookReceiver(t, 1)
	j, err := c.Submit(ctx, job.Request{Prompt: "webhook end to end", DurationSeconds: 5, WebhookURL: rcv.srv.URL + "/hook"}, client.SubmitOptions{})
	require.NoError(t, err)
	done := waitTerminal(t, c, j.ID)
	require.Equal(t, job.StatusSucceeded, done.Status)

	require.Eventually(t, func() bool { return len(rcv.deliveries()) >= 2 }, 30*time.Second, 20*time.Millisecond,
		"the 500 is retried after 5 s")
	got := rcv.deliveries()
	for _, d := range got {
		require.Equal(t, notifier.WebhookID(j.ID, job.StatusSucceeded), d.header.Get(webhook.HeaderID))
		ev, err := client.VerifyWebhook(rotated.Secret, d.header, d.body)
		require.NoError(t, err)
		require.Equal(t, client.WebhookJobSucceeded, ev.Type)
		require.Equal(t, j.ID, ev.Data.ID)
		require.Equal(t, done.Result.VideoURL, ev.Data.Result.VideoURL)
	}

	var types []string
	require.Eventually(t, func() bool {
		evs, err := c.Events(ctx, j.ID)
		require.NoError(t, err)
		types = types[:0]
		for _, e := range evs {
			if e.Stage == notifier.Stage {
				types = append(types, e.Type)
				require.Equal(t, done.TraceID, e.TraceID, "one trace per job (invariant 7)")
			}
		}
		return len(types) == 2
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{notifier.EventRetrying, notifier.EventDelivered}, types)
}
