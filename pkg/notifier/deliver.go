package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/telemetry"
	"github.com/aiprod/aiprod/pkg/webhook"
)

// result is what one attempt got: the receiver's status (0: no answer) and
// why it failed, in words that hold neither the URL's query nor a secret;
// refused when the network guard refused the destination (no retry).
type result struct {
	status  int
	err     string
	refused bool
}

// delivered: a 2xx. gone: 410, the receiver wants no more.
func (r result) delivered() bool { return r.status >= 200 && r.status < 300 }
func (r result) gone() bool      { return r.status == http.StatusGone }

// deliver makes the attempt of job j's webhook that is due, if one is: the
// body and the signing secrets, a slot of the destination (see limits),
// the claim of the attempt in the store, the POST; then, slot released, the
// outcome recorded with a job event.
func (n *Notifier) deliver(ctx context.Context, m *queue.Message, j *job.Job) consumer.Outcome {
	id := WebhookID(j.ID, j.Status)
	b, secrets, err := n.prepare(ctx, j)
	if errclass.IsRetryable(err) {
		return consumer.StoreError("read the signing secret of project "+j.ProjectID, err)
	}
	release := func() {}
	if err == nil {
		r, ok := n.limits.acquire(ctx, hostOf(j.Request.WebhookURL), n.cfg.BusyWait)
		if !ok {
			return n.wait(ctx, m, n.busyDelay(), "webhook destination busy (per-host or global limit)")
		}
		release = r
	}
	defer release()
	c, cerr := n.claim(ctx, id, j)
	switch {
	case cerr != nil:
		return consumer.StoreError("claim webhook "+id, cerr)
	case c.done:
		return consumer.Ack()
	case c.waitFor > 0:
		return n.wait(ctx, m, c.waitFor, c.why)
	}
	res := result{}
	if err != nil {
		res.err = err.Error() // the attempt fails without a request: no secret to sign with
	} else {
		res = n.attempt(ctx, j, id, c.d.Attempts, b, secrets)
	}
	release()
	out, err := n.record(ctx, j, c.d, res)
	if err != nil {
		// The attempt was made; its lease expires and a redelivery makes
		// the next one (a receiver may see this event once more).
		return consumer.StoreError("record webhook "+id, err)
	}
	n.cfg.Metrics.WebhookDelivery(ctx, metricOutcome(out.d.Outcome, res))
	if out.d.Outcome.Final() {
		return consumer.Ack()
	}
	return n.wait(ctx, m, out.d.NextAttemptAt.Sub(n.cfg.Now()), "webhook attempt failed; next attempt due")
}

// prepare returns the webhook's body and the secrets that sign it.
func (n *Notifier) prepare(ctx context.Context, j *job.Job) ([]byte, []string, error) {
	b, err := body(j)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the webhook: %w", err)
	}
	secrets, err := n.cfg.Secrets.Signing(ctx, j.ProjectID)
	if err != nil {
		return nil, nil, fmt.Errorf("signing secret: %w", err)
	}
	return b, secrets, nil
}

// body is the webhook's body: type, the time the job reached its status,
// and the job as GET /v1/jobs/{id} shows it.
func body(j *job.Job) ([]byte, error) {
	at := j.UpdatedAt
	if j.CompletedAt != nil {
		at = *j.CompletedAt
	}
	return json.Marshal(client.WebhookEvent{Type: EventType(j.Status), Timestamp: at.UTC(), Data: api.PublicJob(j)})
}

// attempt POSTs body b once, signed with secrets, within Timeout; it reads
// at most MaxResponseBytes of the answer and discards them.
func (n *Notifier) attempt(ctx context.Context, j *job.Job, id string, number int, b []byte, secrets []string) result {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	ctx, span := telemetry.StartHTTPClient(ctx, nil, "webhook POST", http.MethodPost, j.Request.WebhookURL,
		telemetry.AttrJobID.String(j.ID), telemetry.AttrProjectID.String(j.ProjectID))
	res := n.post(ctx, j.Request.WebhookURL, id, b, secrets)
	var spanErr error
	if res.status == 0 {
		spanErr = errors.New(res.err)
	}
	telemetry.EndHTTPClient(span, res.status, spanErr)
	n.log.InfoContext(ctx, "webhook attempt", "job_id", j.ID, "project_id", j.ProjectID, "webhook_id", id,
		"attempt", number, "destination", telemetry.SafeURL(j.Request.WebhookURL), "status", res.status, "error", res.err)
	return res
}

// post sends one signed request and reads the answer, bounded.
func (n *Notifier) post(ctx context.Context, rawURL, id string, b []byte, secrets []string) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(b))
	if err != nil {
		return result{err: "bad webhook URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aiprod-notifier")
	if err := webhook.SetHeaders(req.Header, id, n.cfg.Now(), b, secrets...); err != nil {
		return result{err: err.Error()}
	}
	resp, err := n.client.Do(req)
	if err != nil {
		_, refused := errors.AsType[*netguard.RefusedError](err)
		return result{err: transportError(ctx, err, n.cfg.Timeout), refused: refused}
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, n.cfg.MaxResponseBytes))
	r := result{status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		r.err = resp.Status + " (redirects are not followed)"
	case !r.delivered():
		r.err = resp.Status
	}
	return r
}

// transportError says why a request got no answer, without the URL (whose
// query may hold the receiver's token).
func transportError(ctx context.Context, err error, timeout time.Duration) string {
	if ctx.Err() != nil {
		return fmt.Sprintf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return "no answer: " + err.Error()
}
