package worker_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/pushauth"
	"github.com/aiprod/aiprod/pkg/pushauth/pushauthtest"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/worker"
)

func stepMessage(t *testing.T, msg dispatch.Message, deliveryAttempt int) *queue.Message {
	t.Helper()
	data, err := msg.Encode()
	require.NoError(t, err)
	return &queue.Message{ID: "push-" + msg.JobID, Data: data, Attributes: msg.Attributes(), DeliveryAttempt: deliveryAttempt}
}

func TestStepLongGenerationAcrossDeliveries(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{running: 4}) // the fifth poll succeeds
	w := e.newWorker(t, func(c *worker.Config) { c.StepPolls = 1 })
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))

	for i := 1; i <= 4; i++ {
		res := w.Step(withTag(ctx, "push"), "alpha", stepMessage(t, msg, i))
		require.Equal(t, worker.StepResult{Later: true, Reason: "step poll limit of 1 reached"}, res, "step %d", i)
		got := e.job(t, j.ID)
		require.Equal(t, job.StatusRunning, got.Status)
		require.Equal(t, "alpha-gen-1", got.Attempts[0].Handle, "step %d resumes the stored handle", i)
	}
	res := w.Step(withTag(ctx, "push"), "alpha", stepMessage(t, msg, 5))
	require.Equal(t, worker.StepResult{Ack: true}, res)

	got := e.job(t, j.ID)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, money.MustParse("0.5"), got.Cost)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID), "exactly one Submit across five deliveries")
	require.Equal(t, 5, e.fakes["alpha"].polls("push"), "one poll per step")
	require.Equal(t, freeSlots(2), e.slots(t, "alpha", 2), "the slot held across steps is released at the end")
}

func TestStepTimeBudget(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{hold: make(chan struct{})}) // never finishes
	w := e.newWorker(t, func(c *worker.Config) { c.StepBudget = 30 * time.Millisecond })
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))

	res := w.Step(ctx, "alpha", stepMessage(t, msg, 1))
	require.True(t, res.Later, "%+v", res)
	require.False(t, res.Ack)
	require.Contains(t, res.Reason, "step budget spent")
	require.Equal(t, job.AttemptRunning, e.job(t, j.ID).Attempts[0].Status)
	held := e.slots(t, "alpha", 2)
	require.Equal(t, j.ID+"#1", held[0].Holder, "the generation keeps its slot between steps")
}

// pushBody is a Pub/Sub push request as Pub/Sub sends it.
func pushBody(t testing.TB, sub string, data []byte, attrs map[string]string, deliveryAttempt int) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"message": map[string]any{
			"data": base64.StdEncoding.EncodeToString(data), "attributes": attrs,
			"messageId": "136969346945", "message_id": "136969346945",
			"publishTime": "2026-11-25T12:00:00.123Z", "publish_time": "2026-11-25T12:00:00.123Z",
		},
		"subscription":    sub,
		"deliveryAttempt": deliveryAttempt,
	})
	require.NoError(t, err)
	return b
}

// Push authentication of the tests: the push subscription's audience and
// service account.
const (
	pushAudience = "https://aiprod-worker-alpha.example/push"
	pushAccount  = "aiprod-push@p.iam.gserviceaccount.com"
)

// pushServer serves w's push handler, authenticating with tokens of iss.
func pushServer(t *testing.T, w *worker.Worker, iss *pushauthtest.Issuer) *httptest.Server {
	t.Helper()
	v, err := pushauth.New(context.Background(), pushauth.Config{Audience: pushAudience, ServiceAccount: pushAccount, Options: iss.Options()})
	require.NoError(t, err)
	srv := httptest.NewServer(w.PushHandler(context.Background(), v))
	t.Cleanup(srv.Close)
	return srv
}

// postPush posts body to srv with the Authorization header auth ("" for
// none) and returns the status and the decoded JSON body.
func postPush(t *testing.T, srv *httptest.Server, auth string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// pushSetup returns a test env whose alpha generations take running polls,
// and the push server of a worker that polls once per step, authenticating
// tokens of the issuer returned.
func pushSetup(t *testing.T, running int) (*env, *pushauthtest.Issuer, *httptest.Server) {
	t.Helper()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{running: running})
	w := e.newWorker(t, func(c *worker.Config) { c.StepPolls = 1 })
	iss := pushauthtest.NewIssuer(t)
	return e, iss, pushServer(t, w, iss)
}

func TestPushHandler(t *testing.T) {
	t.Parallel()
	e, iss, srv := pushSetup(t, 4)
	auth := "Bearer " + iss.Token(t, pushauthtest.Claims(pushAudience, pushAccount))
	post := func(body []byte) (int, map[string]any) { return postPush(t, srv, auth, body) }
	const sub = "projects/p/subscriptions/aiprod-worker-alpha"

	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	data, err := msg.Encode()
	require.NoError(t, err)
	for i := 1; i <= 4; i++ {
		code, body := post(pushBody(t, sub, data, msg.Attributes(), i))
		require.Equal(t, http.StatusTooManyRequests, code, "delivery %d is nacked, as a wait (not a 5xx)", i)
		require.Equal(t, "in_progress", body["error"].(map[string]any)["code"])
	}
	code, _ := post(pushBody(t, sub, data, msg.Attributes(), 5))
	require.Equal(t, http.StatusNoContent, code, "the fifth delivery is acked")
	require.Equal(t, job.StatusSucceeded, e.job(t, j.ID).Status)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))

	t.Run("undecodable data is dead-lettered and acked", func(t *testing.T) {
		code, _ := post(pushBody(t, sub, []byte("garbage"), map[string]string{"job_id": "x"}, 1))
		require.Equal(t, http.StatusNoContent, code)
		dlq := e.q.Published(queue.DeadLetterTopic(queue.DispatchTopic("alpha")))
		require.Len(t, dlq, 1)
		require.Contains(t, dlq[0].Attributes[queue.AttrReason], "undecodable dispatch message")
		require.Equal(t, []byte("garbage"), dlq[0].Data)
	})
	for name, tt := range map[string]struct {
		method, body string
		code         int
	}{
		"not JSON":           {http.MethodPost, "{", http.StatusBadRequest},
		"unknown sub":        {http.MethodPost, string(pushBody(t, "projects/p/subscriptions/aiprod-router", data, nil, 1)), http.StatusBadRequest},
		"backend not served": {http.MethodPost, string(pushBody(t, "projects/p/subscriptions/aiprod-worker-nosuch", data, nil, 1)), http.StatusBadRequest},
		"GET":                {http.MethodGet, "", http.StatusMethodNotAllowed},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL, bytes.NewReader([]byte(tt.body)))
			require.NoError(t, err)
			req.Header.Set("Authorization", auth)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tt.code, resp.StatusCode)
		})
	}
}

// TestPushHandlerRefusesUnauthenticated (issue 13, finding 3): a push
// without a valid OIDC token of the push subscription gets 401 with the
// API's error shape, and nothing of it is handled: no Step, no submit, no
// change to the job, nothing published (not even to the dead-letter
// topic). Pub/Sub takes the 401 as a nack. The same request with a valid
// token is handled.
func TestPushHandlerRefusesUnauthenticated(t *testing.T) {
	t.Parallel()
	e, iss, srv := pushSetup(t, 100)
	other := pushauthtest.NewIssuer(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	data, err := msg.Encode()
	require.NoError(t, err)
	body := pushBody(t, "projects/p/subscriptions/aiprod-worker-alpha", data, msg.Attributes(), 1)
	garbage := pushBody(t, "projects/p/subscriptions/aiprod-worker-alpha", []byte("garbage"), nil, 1)
	token := func(edit func(c map[string]any)) string {
		c := pushauthtest.Claims(pushAudience, pushAccount)
		edit(c)
		return "Bearer " + iss.Token(t, c)
	}

	for name, auth := range map[string]string{
		"missing header":      "",
		"not Bearer":          "Basic YWRtaW46YWRtaW4=",
		"garbage token":       "Bearer not-a-jwt",
		"expired":             token(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }),
		"wrong audience":      token(func(c map[string]any) { c["aud"] = "https://aiprod-worker-beta.example/push" }),
		"wrong issuer":        token(func(c map[string]any) { c["iss"] = "https://issuer.example" }),
		"wrong email":         token(func(c map[string]any) { c["email"] = "intruder@p.iam.gserviceaccount.com" }),
		"email not verified":  token(func(c map[string]any) { c["email_verified"] = false }),
		"signed by other key": "Bearer " + other.Token(t, pushauthtest.Claims(pushAudience, pushAccount)),
	} {
		for _, b := range [][]byte{body, garbage} {
			code, out := postPush(t, srv, auth, b)
			require.Equal(t, http.StatusUnauthorized, code, name)
			detail, ok := out["error"].(map[string]any)
			require.True(t, ok, "%s: error body %v", name, out)
			require.Equal(t, "unauthenticated", detail["code"], name)
			require.Equal(t, "Authorization", detail["field"], name)
			if tok, ok := strings.CutPrefix(auth, "Bearer "); ok {
				require.NotContains(t, detail["message"], tok, "%s: the token is echoed", name)
			}
		}
	}
	require.Zero(t, e.fakes["alpha"].submitCount(j.ID), "no dispatch was handled")
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusDispatched, got.Status)
	require.Empty(t, got.Attempts[0].Handle)
	for _, topic := range allTopics(e) {
		require.Empty(t, e.q.Published(topic), "published to %s", topic)
	}

	code, out := postPush(t, srv, token(func(map[string]any) {}), body)
	require.Equal(t, http.StatusTooManyRequests, code, "a valid token is handled (its step ends in progress): %v", out)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))
	require.Equal(t, job.StatusRunning, e.job(t, j.ID).Status)
}

// TestPushHandlerAuthFailsClosed: without a verifier every push is refused;
// a verifier that cannot tell (certificates unreachable) answers 503, which
// Pub/Sub retries, and nothing is handled either.
func TestPushHandlerAuthFailsClosed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := e.newWorker(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	data, err := msg.Encode()
	require.NoError(t, err)
	body := pushBody(t, "projects/p/subscriptions/aiprod-worker-alpha", data, msg.Attributes(), 1)
	for want, auth := range map[int]pushauth.Verifier{
		http.StatusUnauthorized:       nil,
		http.StatusServiceUnavailable: verifierFunc(func(string) error { return errclass.New(errclass.Retryable, "certs unreachable") }),
	} {
		srv := httptest.NewServer(w.PushHandler(context.Background(), auth))
		code, _ := postPush(t, srv, "Bearer x.y.z", body)
		srv.Close()
		require.Equal(t, want, code)
	}
	require.Zero(t, e.fakes["alpha"].submitCount(j.ID))
	require.Equal(t, job.StatusDispatched, e.job(t, j.ID).Status)
}

// TestPushHandlerBusyIs429 (issue 14 item 7): a push that finds every
// concurrency slot of its backend held waits SlotWait for one, then nacks
// with 429 busy — a wait, like a step that ends in progress, not a failure
// (503) — without submitting; once a slot is free the redelivery runs. A
// step that fails (the store down) still answers 503. Pub/Sub takes every
// non-2xx as a nack; the code tells a backlog from trouble in Cloud Run's
// request counts.
func TestPushHandlerBusyIs429(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hold := make(chan struct{})
	e.fakes["alpha"].setDefault(script{hold: hold})
	w := e.newWorker(t, func(c *worker.Config) { c.SlotWait = 20 * time.Millisecond; c.StepBudget = time.Hour })
	srv := httptest.NewServer(w.PushHandler(context.Background(), pushauth.Off()))
	t.Cleanup(srv.Close)
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before srv.Close, which waits for the held steps
	const sub = "projects/p/subscriptions/aiprod-worker-alpha"
	push := func(msg dispatch.Message, attempt int) (int, map[string]any) {
		data, err := msg.Encode()
		require.NoError(t, err)
		return postPush(t, srv, "", pushBody(t, sub, data, msg.Attributes(), attempt))
	}

	var running []chan int
	for range 2 { // alpha's concurrency: both slots held by generations in progress
		j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
		done := make(chan int, 1)
		go func() { code, _ := push(msg, 1); done <- code }()
		e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })
		running = append(running, done)
	}
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	code, body := push(msg, 1)
	require.Equal(t, http.StatusTooManyRequests, code, "no slot within SlotWait: 429, %v", body)
	require.Equal(t, "busy", body["error"].(map[string]any)["code"])
	require.Zero(t, e.fakes["alpha"].submitCount(j.ID))
	require.Equal(t, job.StatusDispatched, e.job(t, j.ID).Status)

	release()
	for _, done := range running {
		require.Equal(t, http.StatusNoContent, <-done)
	}
	code, _ = push(msg, 2)
	require.Equal(t, http.StatusNoContent, code, "the redelivery finds a slot")
	require.Equal(t, job.StatusSucceeded, e.job(t, j.ID).Status)

	j, msg = e.dispatched(t, "alpha", request(t, "a fox"))
	e.st.failTx.Store(1 << 20) // the store is down: a failure, not a wait
	code, body = push(msg, 1)
	require.Equal(t, http.StatusServiceUnavailable, code, "%v", body)
	require.Equal(t, "retry_later", body["error"].(map[string]any)["code"])
	e.st.failTx.Store(0)
	require.Equal(t, job.StatusDispatched, e.job(t, j.ID).Status)
}

type verifierFunc func(auth string) error

func (f verifierFunc) Verify(_ context.Context, auth string) error { return f(auth) }

// allTopics are the topics of the test topology and their dead-letter
// topics.
func allTopics(e *env) []string {
	var out []string
	for _, s := range queue.Topology(e.cat.Names()) {
		out = append(out, s.Topic)
	}
	return out
}

func TestPushHandlerShutdownNacks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{hold: make(chan struct{})})
	w := e.newWorker(t, func(c *worker.Config) { c.StepBudget = time.Hour })
	shutdown, stop := context.WithCancel(context.Background())
	h := w.PushHandler(shutdown, pushauth.Off())
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	data, err := msg.Encode()
	require.NoError(t, err)

	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/push",
			bytes.NewReader(pushBody(t, "projects/p/subscriptions/aiprod-worker-alpha", data, msg.Attributes(), 1))))
	}()
	e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })
	stop() // SIGTERM
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the push step did not stop")
	}
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))
}

// slots reads a backend's first n concurrency slots.
func (e *env) slots(t *testing.T, backendName string, n int) []store.Slot {
	t.Helper()
	out, _, err := store.ReadSlots(ctx, e.st, backendName, n)
	require.NoError(t, err)
	for i := range out {
		out[i] = store.Slot{Backend: out[i].Backend, Index: out[i].Index, Holder: out[i].Holder}
	}
	return out
}

func freeSlots(n int) []store.Slot {
	out := make([]store.Slot, n)
	for i := range out {
		out[i] = store.Slot{Backend: "alpha", Index: i}
	}
	return out
}

// FuzzPushEnvelope: no push body panics DecodePushEnvelope, and what it
// accepts round-trips: the message and subscription it returns, encoded
// again as Pub/Sub would, decode to the same.
func FuzzPushEnvelope(f *testing.F) {
	f.Add(pushBody(f, "projects/p/subscriptions/aiprod-worker-alpha", []byte(`{"job_id":"j"}`), map[string]string{"job_id": "j"}, 3))
	for _, s := range []string{
		`{"message":{"data":"","message_id":"1","publish_time":"2026-11-25T12:00:00Z"},"subscription":"s"}`,
		`{"message":{"data":"eyJ9","attributes":{"a":"b"},"messageId":"7","publishTime":"2026-11-25T12:00:00.5+02:00"},"deliveryAttempt":1}`,
		`{"message":{"data":"not base64!"}}`, `{"message":{"attributes":{"a":1}}}`, `{"deliveryAttempt":-1}`,
		`{"deliveryAttempt":1e99}`, `{"message":null}`, `{} {}`, `{}` + "\n", `[]`, `{`, ``, `null`,
		`{"message":{"publishTime":"yesterday"}}`, `{"subscription":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, sub, err := worker.DecodePushEnvelope(bytes.NewReader(body))
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, m.DeliveryAttempt, 0)
		again, err := json.Marshal(map[string]any{
			"message":      map[string]any{"data": m.Data, "attributes": m.Attributes, "messageId": m.ID, "publishTime": m.PublishTime},
			"subscription": sub, "deliveryAttempt": m.DeliveryAttempt,
		})
		require.NoError(t, err)
		m2, sub2, err := worker.DecodePushEnvelope(bytes.NewReader(again))
		require.NoError(t, err, "%s", again)
		require.Equal(t, sub, sub2)
		require.Equal(t, m.ID, m2.ID)
		require.True(t, bytes.Equal(m.Data, m2.Data))
		require.Equal(t, len(m.Attributes), len(m2.Attributes))
		for k, v := range m.Attributes {
			require.Equal(t, v, m2.Attributes[k])
		}
		require.True(t, m.PublishTime.Equal(m2.PublishTime))
		require.Equal(t, m.DeliveryAttempt, m2.DeliveryAttempt)
	})
}
