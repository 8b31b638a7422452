package worker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/pushauth"
	"github.com/aiprod/aiprod/pkg/queue"
)

// StepResult is what Step did with a message; the caller acks or nacks it.
type StepResult struct {
	// Ack means the message is done with: acknowledge it. Otherwise nack
	// it, and it is delivered again after the subscription's backoff.
	Ack bool
	// Later reports a nack because the step's budget ended while the
	// generation still runs: expected, not a failure.
	Later bool
	// Waiting reports a nack that only waits for something expected to
	// come (a free concurrency slot, another worker's submit, the retry
	// time of a backend that refused the job): not a failure either.
	Waiting bool
	// DeadLettered reports an ack of a message that was published to the
	// dead-letter topic first (Reason says why).
	DeadLettered bool
	// Reason says why the message was nacked or dead-lettered.
	Reason string
}

// limits bounds one Step. A nil *limits (pull mode) bounds nothing.
type limits struct {
	deadline time.Time // by Config.Now
	maxPolls int       // 0: no limit
	polls    int
}

// spent reports whether waiting until at would overrun the step.
func (l *limits) spent(at time.Time) bool { return l != nil && at.After(l.deadline) }

func (l *limits) polled() {
	if l != nil {
		l.polls++
	}
}

// pollsUsed reports whether the step made all the polls it may.
func (l *limits) pollsUsed() bool { return l != nil && l.maxPolls > 0 && l.polls >= l.maxPolls }

// remaining is the step's time left at now; bounded is false in pull mode.
func (l *limits) remaining(now time.Time) (d time.Duration, bounded bool) {
	if l == nil {
		return 0, false
	}
	return max(l.deadline.Sub(now), 0), true
}

// Step handles one message of backend's subscription with a bounded amount
// of work, for a Pub/Sub push subscription served by Cloud Run (see
// "Push mode" in the package doc): it applies the same rules as Handler,
// submitting if the attempt needs it, but polls only for Config.StepBudget
// (and at most Config.StepPolls times), then returns Later so that the
// message is delivered again; every step resumes from the stored handle.
// (At the last delivery attempts before the dead-letter threshold it
// publishes the dispatch afresh and returns Ack instead.)
//
// Step handles m through the subscription's consumer (package consumer):
// it calls m.Ack or m.Nack, which do nothing on a push delivery built
// without them, and it may publish m to the dead-letter topic (then it
// returns Ack). It honours ctx: when ctx is done it stops
// polling and returns a nack, but a Submit in progress gets DrainTimeout.
// backendName must be one of Config.Backends. Safe for concurrent use.
func (w *Worker) Step(ctx context.Context, backendName string, m *queue.Message) StepResult {
	lim := &limits{deadline: w.cfg.Now().Add(w.cfg.StepBudget), maxPolls: w.cfg.StepPolls}
	o := w.consumerOf(backendName).Handle(context.WithValue(ctx, limitsKey{}, lim), m)
	return StepResult{Ack: o.Acked(), Later: o.Pending, Waiting: o.Quiet && !o.Pending && !o.Acked(),
		DeadLettered: o.Verdict == consumer.VerdictDeadLetter, Reason: o.Reason}
}

// The push subscriptions of the deployment (infra/pubsub.tf) and the step
// that fits them. PushAckDeadline is a worker subscription's ack deadline
// when it pushes: Pub/Sub's maximum, which is also how long Pub/Sub waits
// for the answer to each push request. PushStepBudget is the StepBudget to
// serve those pushes with (AIPROD_STEP_BUDGET): a step holds its request
// for up to nine minutes, so that a generation of a few minutes is
// submitted, polled and recorded within one delivery and acked; the minute
// left is for the last poll's outcome (the output copy, the outcome write).
// A push request in flight is what Cloud Run's autoscaling counts, so
// instances follow the generations running (infra/README.md, "Workers that
// scale with the work").
//
// PushMaxDeliveryAttempts is the dead-letter threshold of those
// subscriptions: Pub/Sub's maximum. A backlog behind a busy backend is
// refused at Cloud Run's door (429, the service's maximum reached) without
// reaching Step, so Step cannot republish it before the threshold as it
// does a waiting delivery it sees; every refusal spends a delivery attempt,
// and at the subscription's 60 s maximum backoff 100 of them take over 90
// minutes of refusals. (Config.MaxDeliveryAttempts may stay at its
// default: Step then republishes the waiting deliveries it sees earlier
// than it must.)
const (
	PushAckDeadline         = 10 * time.Minute
	PushStepBudget          = PushAckDeadline - time.Minute
	PushMaxDeliveryAttempts = 100
)

// maxPushBody bounds a push request: Pub/Sub's 10 MB message limit,
// base64-encoded, plus the envelope.
const maxPushBody = 16 << 20

// pushEnvelope is the body of a Pub/Sub push request (wrapped payload).
type pushEnvelope struct {
	Message struct {
		Data        []byte            `json:"data"` // base64 in JSON
		Attributes  map[string]string `json:"attributes"`
		MessageID   string            `json:"messageId"`
		MessageID2  string            `json:"message_id"`
		PublishTime time.Time         `json:"publishTime"`
	} `json:"message"`
	Subscription    string `json:"subscription"`
	DeliveryAttempt int    `json:"deliveryAttempt"`
}

// DecodePushEnvelope reads the body of a Pub/Sub push request (the wrapped
// payload: {"message": {...}, "subscription": ..., "deliveryAttempt": n})
// into the message it delivers and the subscription's name as sent
// (projects/<p>/subscriptions/<s>). It fails on anything else: not JSON, a
// field of the wrong type, data that is not base64, trailing bytes, a
// negative delivery attempt.
func DecodePushEnvelope(r io.Reader) (queue.Message, string, error) {
	var env pushEnvelope
	dec := json.NewDecoder(r)
	if err := dec.Decode(&env); err != nil {
		return queue.Message{}, "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return queue.Message{}, "", errors.New("trailing data after the envelope")
	}
	if env.DeliveryAttempt < 0 {
		return queue.Message{}, "", fmt.Errorf("deliveryAttempt %d is negative", env.DeliveryAttempt)
	}
	return queue.Message{
		ID: cmp.Or(env.Message.MessageID, env.Message.MessageID2), Data: env.Message.Data,
		Attributes: env.Message.Attributes, DeliveryAttempt: env.DeliveryAttempt, PublishTime: env.Message.PublishTime,
	}, env.Subscription, nil
}

// PushHandler returns the HTTP handler of the worker's Pub/Sub push
// subscriptions, to mount on a Cloud Run service (for example at
// POST /push). It authenticates the request with auth first: a request auth
// refuses gets 401 (503 when auth cannot tell now), and nothing of it is
// read or handled; a nil auth refuses every request (pushauth.Off accepts
// every one). Then it decodes the push envelope, finds the backend from the
// envelope's subscription (aiprod-worker-<backend>, one of Config.Backends),
// runs Step, and answers 204 to ack; to nack, 429 when the step only waits
// (StepResult.Later: error code in_progress; StepResult.Waiting, e.g. every
// concurrency slot busy: busy) and 503 when something failed (retry_later);
// a 400 for a request that is not a push envelope of a known subscription.
// Pub/Sub treats every answer but 2xx alike, as a nack: it delivers the
// message again after the subscription's retry backoff, and slows its
// pushes down. 429 keeps the expected waits of a backlog out of the
// service's 5xx rate, which then means failures.
//
// When shutdown is done (SIGTERM), steps in progress stop polling and
// answer nack, as Handler does in pull mode.
func (w *Worker) PushHandler(shutdown context.Context, auth pushauth.Verifier) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			rw.Header().Set("Allow", http.MethodPost)
			writePushError(rw, http.StatusMethodNotAllowed, "method_not_allowed", "push requests are POST", "")
			return
		}
		if !w.authenticatePush(rw, r, auth) {
			return
		}
		m, sub, err := DecodePushEnvelope(http.MaxBytesReader(rw, r.Body, maxPushBody))
		if err != nil {
			writePushError(rw, http.StatusBadRequest, "invalid_request", "not a Pub/Sub push envelope: "+err.Error(), "")
			return
		}
		name, ok := w.backendOfSubscription(sub)
		if !ok {
			w.log.ErrorContext(r.Context(), "push from an unknown subscription; nacked", "subscription", sub)
			writePushError(rw, http.StatusBadRequest, "invalid_request",
				fmt.Sprintf("subscription %q is not the worker subscription of a backend this worker serves", sub), "")
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(shutdown, cancel)
		defer stop()

		res := w.Step(ctx, name, &m)
		switch {
		case res.Ack:
			rw.WriteHeader(http.StatusNoContent)
		case res.Later:
			writePushError(rw, http.StatusTooManyRequests, "in_progress", res.Reason, "")
		case res.Waiting:
			writePushError(rw, http.StatusTooManyRequests, "busy", res.Reason, "")
		default:
			writePushError(rw, http.StatusServiceUnavailable, "retry_later", res.Reason, "")
		}
	})
}

// authenticatePush reports whether auth accepts r; when it does not, it
// has answered 401 (or 503) and logged why, without the token.
func (w *Worker) authenticatePush(rw http.ResponseWriter, r *http.Request, auth pushauth.Verifier) bool {
	err := errclass.New(errclass.Unauthenticated, "push authentication is not configured")
	if auth != nil {
		err = auth.Verify(r.Context(), r.Header.Get("Authorization"))
	}
	if err == nil {
		return true
	}
	if errors.Is(err, errclass.Unauthenticated) {
		w.log.WarnContext(r.Context(), "push request refused", "error", err.Error(), "remote_addr", r.RemoteAddr)
		rw.Header().Set("WWW-Authenticate", `Bearer realm="pubsub-push"`)
		writePushError(rw, http.StatusUnauthorized, "unauthenticated", err.Error(), "Authorization")
		return false
	}
	w.log.ErrorContext(r.Context(), "push request not authenticated; nacked", "error", err.Error())
	writePushError(rw, http.StatusServiceUnavailable, "unavailable", "cannot verify the push token now", "")
	return false
}

// backendOfSubscription maps "projects/p/subscriptions/aiprod-worker-<b>"
// (or the bare name) to b, if this worker serves b.
func (w *Worker) backendOfSubscription(sub string) (string, bool) {
	short := sub[strings.LastIndex(sub, "/")+1:]
	name, ok := strings.CutPrefix(short, queue.WorkerSubscription(""))
	if !ok {
		return "", false
	}
	_, served := w.cfg.Backends[name]
	return name, served
}

// writePushError answers with the API's error shape,
// {"error":{"code","message","field"}} (field omitted when empty).
func writePushError(rw http.ResponseWriter, status int, code, msg, field string) {
	detail := map[string]string{"code": code, "message": msg}
	if field != "" {
		detail["field"] = field
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(map[string]any{"error": detail})
}
