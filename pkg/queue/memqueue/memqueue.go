package memqueue

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/filter"
)

// Pub/Sub's limits, enforced so that tests catch what production would reject.
const (
	maxDataBytes      = 10 << 20
	maxAttributes     = 100
	maxAttrKeyBytes   = 256
	maxAttrValueBytes = 1024

	ackDeadlineDefault = 10 * time.Second // Pub/Sub's default
	minDeliveryAttempt = 5
	maxDeliveryAttempt = 100
)

// Option configures a Queue.
type Option func(*options)

type options struct {
	backoffSet          bool
	minBackoff          time.Duration
	maxBackoff          time.Duration
	ackDeadline         time.Duration
	ackDeadlineOverride bool
}

// WithBackoff replaces the retry policy of every subscription: a nacked or
// expired message is delivered again after min·2^(attempt-1), capped at max.
// Use it to run code configured with production backoffs (queue.Topology)
// fast in tests. Zero values mean immediate redelivery.
func WithBackoff(minBackoff, maxBackoff time.Duration) Option {
	return func(o *options) {
		o.backoffSet = true
		o.minBackoff, o.maxBackoff = max(minBackoff, 0), max(maxBackoff, minBackoff, 0)
	}
}

// WithAckDeadline replaces the ack deadline of every subscription. It must be
// positive; other values are ignored.
func WithAckDeadline(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.ackDeadline, o.ackDeadlineOverride = d, true
		}
	}
}

// Queue is an in-memory queue.Queue; see the package doc. The zero value is
// not usable; call New. It is safe for concurrent use.
type Queue struct {
	opts options

	mu     sync.Mutex
	closed bool
	done   chan struct{} // closed by Close
	topics map[string]*topic
	subs   map[string]*subscription
	nextID uint64
}

var _ queue.Queue = (*Queue)(nil)

// New returns an empty queue: no topics, no subscriptions.
func New(opts ...Option) *Queue {
	q := &Queue{
		done:   make(chan struct{}),
		topics: map[string]*topic{},
		subs:   map[string]*subscription{},
	}
	for _, o := range opts {
		o(&q.opts)
	}
	return q
}

type topic struct {
	name      string
	subs      []*subscription
	published messageLog
}

type subscription struct {
	cfg     queue.SubscriptionConfig // with effective deadline and backoff
	filter  filter.Filter            // cfg.Filter, parsed
	entries []*entry                 // neither acked nor dead-lettered, in publish order
	changed chan struct{}            // closed and replaced when an entry may have become deliverable
	watched bool                     // a receiver took changed to wait on it
}

// entry is one message in one subscription.
type entry struct {
	id          string
	body        body // data and attributes
	publishTime time.Time
	attempts    int // deliveries so far
	gen         int // delivery generation; Ack/Nack of an older one is ignored

	leased      bool
	leaseUntil  time.Time // when leased
	availableAt time.Time // when not leased
}

var errClosed = errclass.New(errclass.Permanent, "memqueue: queue is closed")

func (q *Queue) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return errclass.Wrap(errclass.Retryable, err, "memqueue")
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return errClosed
	}
	return nil
}

// EnsureTopic creates topic name unless it exists.
func (q *Queue) EnsureTopic(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return fmt.Errorf("memqueue: ensure topic: %w", err)
	}
	if err := q.lock(ctx); err != nil {
		return err
	}
	defer q.mu.Unlock()
	if q.topics[name] == nil {
		q.topics[name] = &topic{name: name}
	}
	return nil
}

// CheckTopic returns nil when topic name exists, errclass.NotFound when it
// does not; see queue.TopicChecker.
func (q *Queue) CheckTopic(ctx context.Context, name string) error {
	if err := q.lock(ctx); err != nil {
		return err
	}
	defer q.mu.Unlock()
	if q.topics[name] == nil {
		return errclass.New(errclass.NotFound, "memqueue: topic %q not found", name)
	}
	return nil
}

// EnsureSubscription creates subscription cfg.Name unless it exists; an
// existing one keeps its configuration, as in Pub/Sub. The topic and the
// dead-letter topic must exist (errclass.NotFound). MaxDeliveryAttempts must
// be 5..100 with a DeadLetterTopic (0 means 5), as in Pub/Sub; AckDeadline 0
// means 10s.
func (q *Queue) EnsureSubscription(ctx context.Context, cfg queue.SubscriptionConfig) error {
	if err := q.validSubscription(&cfg); err != nil {
		return fmt.Errorf("memqueue: ensure subscription %q: %w", cfg.Name, err)
	}
	if err := q.lock(ctx); err != nil {
		return err
	}
	defer q.mu.Unlock()
	if q.subs[cfg.Name] != nil {
		return nil
	}
	t := q.topics[cfg.Topic]
	if t == nil {
		return errclass.New(errclass.NotFound, "memqueue: ensure subscription %q: topic %q not found", cfg.Name, cfg.Topic)
	}
	if cfg.DeadLetterTopic != "" && q.topics[cfg.DeadLetterTopic] == nil {
		return errclass.New(errclass.NotFound, "memqueue: ensure subscription %q: dead-letter topic %q not found", cfg.Name, cfg.DeadLetterTopic)
	}
	f, err := filter.Parse(cfg.Filter)
	if err != nil {
		return errclass.Wrap(errclass.Permanent, err, "memqueue: ensure subscription "+cfg.Name)
	}
	s := &subscription{cfg: cfg, filter: f, changed: make(chan struct{})}
	q.subs[cfg.Name] = s
	t.subs = append(t.subs, s)
	return nil
}

func (q *Queue) validSubscription(cfg *queue.SubscriptionConfig) error {
	if err := validName(cfg.Name); err != nil {
		return err
	}
	if err := validName(cfg.Topic); err != nil {
		return err
	}
	if cfg.AckDeadline < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 {
		return errclass.New(errclass.Permanent, "negative AckDeadline, MinBackoff or MaxBackoff")
	}
	if cfg.MaxBackoff != 0 && cfg.MaxBackoff < cfg.MinBackoff {
		return errclass.New(errclass.Permanent, "MaxBackoff %s is less than MinBackoff %s", cfg.MaxBackoff, cfg.MinBackoff)
	}
	if cfg.DeadLetterTopic != "" {
		if err := validName(cfg.DeadLetterTopic); err != nil {
			return err
		}
		if cfg.MaxDeliveryAttempts == 0 {
			cfg.MaxDeliveryAttempts = minDeliveryAttempt
		}
		if cfg.MaxDeliveryAttempts < minDeliveryAttempt || cfg.MaxDeliveryAttempts > maxDeliveryAttempt {
			return errclass.New(errclass.Permanent, "MaxDeliveryAttempts %d is not in %d..%d", cfg.MaxDeliveryAttempts, minDeliveryAttempt, maxDeliveryAttempt)
		}
	} else {
		cfg.MaxDeliveryAttempts = 0
	}
	if cfg.AckDeadline == 0 {
		cfg.AckDeadline = ackDeadlineDefault
	}
	if q.opts.ackDeadlineOverride {
		cfg.AckDeadline = q.opts.ackDeadline
	}
	if q.opts.backoffSet {
		cfg.MinBackoff, cfg.MaxBackoff = q.opts.minBackoff, q.opts.maxBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	return nil
}

// validName applies Pub/Sub's rules for topic and subscription ids.
func validName(name string) error {
	if len(name) < 3 || len(name) > 255 {
		return errclass.New(errclass.Permanent, "name %q must be 3..255 characters", name)
	}
	if c := name[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
		return errclass.New(errclass.Permanent, "name %q must start with a letter", name)
	}
	if len(name) >= 4 && name[:4] == "goog" {
		return errclass.New(errclass.Permanent, "name %q must not start with goog", name)
	}
	for _, c := range name {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		switch c {
		case '-', '_', '.', '~', '+', '%':
			ok = true
		}
		if !ok {
			return errclass.New(errclass.Permanent, "name %q contains %q", name, c)
		}
	}
	return nil
}

func validMessage(m queue.Message) error {
	if len(m.Data) == 0 && len(m.Attributes) == 0 {
		return errclass.New(errclass.Permanent, "message has neither data nor attributes")
	}
	if len(m.Data) > maxDataBytes {
		return errclass.New(errclass.Permanent, "message data is %d bytes, more than %d", len(m.Data), maxDataBytes)
	}
	if len(m.Attributes) > maxAttributes {
		return errclass.New(errclass.Permanent, "message has %d attributes, more than %d", len(m.Attributes), maxAttributes)
	}
	for k, v := range m.Attributes {
		switch {
		case k == "":
			return errclass.New(errclass.Permanent, "message has an empty attribute key")
		case len(k) > maxAttrKeyBytes:
			return errclass.New(errclass.Permanent, "attribute key %.32q... is longer than %d bytes", k, maxAttrKeyBytes)
		case len(v) > maxAttrValueBytes:
			return errclass.New(errclass.Permanent, "attribute %q is longer than %d bytes", k, maxAttrValueBytes)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return errclass.New(errclass.Permanent, "attribute %q is not valid UTF-8", k)
		case len(k) >= 4 && k[:4] == "goog":
			return errclass.New(errclass.Permanent, "attribute key %q must not start with goog", k)
		}
	}
	return nil
}

// Publish adds a copy of m to every subscription of topic and returns its id.
// The message's ID, DeliveryAttempt and PublishTime are ignored.
func (q *Queue) Publish(ctx context.Context, topicName string, m queue.Message) (string, error) {
	if err := validMessage(m); err != nil {
		return "", fmt.Errorf("memqueue: publish to %s: %w", topicName, err)
	}
	b := encodeBody(m.Data, m.Attributes) // the queue's copy
	if err := q.lock(ctx); err != nil {
		return "", err
	}
	defer q.mu.Unlock()
	t := q.topics[topicName]
	if t == nil {
		return "", errclass.New(errclass.NotFound, "memqueue: publish: topic %q not found", topicName)
	}
	return q.publishLocked(t, b, m.Attributes, time.Now()), nil
}

// publishLocked holds b (attributes attrs) in every subscription of t whose
// filter matches it.
func (q *Queue) publishLocked(t *topic, b body, attrs map[string]string, now time.Time) string {
	q.nextID++
	id := strconv.FormatUint(q.nextID, 10)
	t.published.add(id, b, now)
	for _, s := range t.subs {
		if !s.filter.Match(attrs) {
			continue // as Pub/Sub: acknowledged for it at once
		}
		s.entries = append(s.entries, &entry{id: id, body: b, publishTime: now, availableAt: now})
		s.notify()
	}
	return id
}

// notify wakes the receivers waiting on s, if any.
func (s *subscription) notify() {
	if !s.watched {
		return // nobody took changed since it was last closed
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.watched = false
}

// Receive calls h for every message of subscription until ctx is done; see
// queue.Subscriber. A message that h neither acked nor nacked when it returns
// is nacked. Receive returns errclass.NotFound for a missing subscription,
// nil when ctx is done, and an errclass.Permanent error when the queue is
// closed; in every case only after all of its handler calls have returned.
// The handler's ctx is ctx.
func (q *Queue) Receive(ctx context.Context, name string, opts queue.ReceiveOptions, h queue.Handler) error {
	opts = opts.WithDefaults()
	s, err := q.subscription(name, "receive")
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, opts.MaxOutstanding)
	hs := handlers{h: h, slots: slots, work: make(chan *queue.Message), maxIdle: int32(min(opts.MaxOutstanding, maxIdleHandlers))}
	defer close(hs.work) // after the loop: idle handler goroutines end
	var timer leaseTimer
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		case <-q.done:
			return errClosed
		}
		var one [1]delivery
		ds, err := q.lease(ctx, s, 1, one[:0], &timer, opts.MaxExtension, time.Time{})
		if err != nil || len(ds) == 0 {
			return err
		}
		e, gen := ds[0].e, ds[0].gen
		m := queue.NewReceived(ds[0].msg,
			func() { q.settle(s, e, gen, true) },
			func() { q.settle(s, e, gen, false) },
		)
		hs.run(ctx, &wg, m)
	}
}

// maxIdleHandlers bounds the handler goroutines a Receive keeps waiting for
// the next message.
const maxIdleHandlers = 16

// handlers runs a Receive's handler calls on goroutines that are kept for
// the next message once a call returns (up to maxIdle of them), instead of
// a goroutine per message: a fresh goroutine grows its stack anew, by
// copying, to the depth of the handler at every message.
type handlers struct {
	h       queue.Handler
	slots   chan struct{} // a slot is taken for each message in a handler
	work    chan *queue.Message
	idle    atomic.Int32 // goroutines committed to receiving from work
	maxIdle int32
}

// run handles m on an idle goroutine, or on a new one when none is idle.
// Only Receive's loop calls it.
func (hs *handlers) run(ctx context.Context, wg *sync.WaitGroup, m *queue.Message) {
	if hs.idle.Load() > 0 {
		// Only this loop takes idle goroutines, so the one counted
		// receives m (it may not be waiting yet).
		hs.idle.Add(-1)
		hs.work <- m
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			hs.h(ctx, m)
			m.Nack() // no effect if h acked or nacked
			if hs.idle.Load() >= hs.maxIdle {
				<-hs.slots
				return
			}
			hs.idle.Add(1)
			<-hs.slots
			var ok bool
			if m, ok = <-hs.work; !ok {
				return
			}
		}
	}()
}

// subscription returns subscription name; errClosed once the queue is
// closed, and an errclass.NotFound error naming op when it is missing.
func (q *Queue) subscription(name, op string) (*subscription, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch s := q.subs[name]; {
	case q.closed:
		return nil, errClosed
	case s == nil:
		return nil, errclass.New(errclass.NotFound, "memqueue: %s: subscription %q not found", op, name)
	default:
		return s, nil
	}
}

// delivery is one delivery of an entry.
type delivery struct {
	e   *entry
	gen int
	msg queue.Message // a copy of the entry's message, with DeliveryAttempt
}

// lease blocks until a message of s can be delivered, then leases up to n
// at once, appended to ds (empty; its capacity saves allocations). It
// returns none when ctx is done or, with a non-zero until, once until
// passed.
func (q *Queue) lease(ctx context.Context, s *subscription, n int, ds []delivery, timer *leaseTimer, extension time.Duration, until time.Time) ([]delivery, error) {
	defer timer.stop()
	for {
		if ctx.Err() != nil {
			return nil, nil
		}
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, errClosed
		}
		now := time.Now()
		q.expireLocked(now)
		ds, wake := q.leaseLocked(s, n, ds, extension, now)
		changed := s.changed
		if len(ds) == 0 {
			s.watched = true // this receiver waits on changed
		}
		q.mu.Unlock()
		if len(ds) > 0 {
			return ds, nil
		}
		if !until.IsZero() {
			if !now.Before(until) {
				return nil, nil
			}
			wake = earliest(wake, until)
		}

		var fire <-chan time.Time
		if !wake.IsZero() {
			fire = timer.after(wake.Sub(now))
		}
		select {
		case <-changed:
		case <-fire:
		case <-ctx.Done():
			return nil, nil
		case <-q.done:
			return nil, errClosed
		}
	}
}

// leaseTimer is the timer a receiver waits on between leases, made once
// and reset for each wait.
type leaseTimer struct{ t *time.Timer }

// after returns a channel that receives once d from now.
func (lt *leaseTimer) after(d time.Duration) <-chan time.Time {
	if lt.t == nil {
		lt.t = time.NewTimer(d)
	} else {
		lt.t.Reset(d)
	}
	return lt.t.C
}

func (lt *leaseTimer) stop() {
	if lt.t != nil {
		lt.t.Stop()
	}
}

// leaseLocked leases the first n available entries of s, in publish order,
// for the ack deadline or extension, whichever is longer, appending them to
// ds. Without any it returns when the next entry becomes available or the
// next lease expires (zero for never).
func (q *Queue) leaseLocked(s *subscription, n int, ds []delivery, extension time.Duration, now time.Time) (_ []delivery, wake time.Time) {
	for _, e := range s.entries {
		if len(ds) == n {
			break
		}
		if e.leased {
			wake = earliest(wake, e.leaseUntil)
			continue
		}
		if e.availableAt.After(now) {
			wake = earliest(wake, e.availableAt)
			continue
		}
		e.attempts++
		e.gen++
		e.leased = true
		e.leaseUntil = now.Add(max(s.cfg.AckDeadline, extension))
		m := queue.Message{ID: e.id, PublishTime: e.publishTime, DeliveryAttempt: e.attempts}
		m.Data, m.Attributes, _ = e.body.decode()
		ds = append(ds, delivery{e: e, gen: e.gen, msg: m})
	}
	return ds, wake
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// settle acks or nacks delivery gen of e.
func (q *Queue) settle(s *subscription, e *entry, gen int, ack bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settleLocked(s, e, gen, ack)
}

func (q *Queue) settleLocked(s *subscription, e *entry, gen int, ack bool) {
	if e.gen != gen || !e.leased && !ack {
		return // redelivered since, already settled, or expired and a late nack
	}
	i := slices.Index(s.entries, e)
	if i < 0 {
		return // acked or dead-lettered already
	}
	if ack {
		e.gen++ // a later Nack of this delivery is ignored
		s.entries = slices.Delete(s.entries, i, i+1)
		return
	}
	q.failLocked(s, e, i, time.Now())
}

// failLocked ends the delivery of s.entries[i] unsuccessfully: the entry is
// dead-lettered after the subscription's max delivery attempts, or becomes
// available again after the backoff.
func (q *Queue) failLocked(s *subscription, e *entry, i int, now time.Time) {
	e.leased = false
	if s.cfg.DeadLetterTopic != "" && e.attempts >= s.cfg.MaxDeliveryAttempts {
		s.entries = slices.Delete(s.entries, i, i+1)
		if t := q.topics[s.cfg.DeadLetterTopic]; t != nil {
			_, attrs, _ := e.body.decode()
			q.publishLocked(t, e.body, attrs, now)
		}
		return
	}
	e.availableAt = now.Add(s.backoff(e.attempts))
	s.notify()
}

func (s *subscription) backoff(attempts int) time.Duration {
	b := s.cfg.MinBackoff
	for i := 1; i < attempts && b < s.cfg.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, s.cfg.MaxBackoff)
}

// expireLocked fails every delivery whose lease has expired.
func (q *Queue) expireLocked(now time.Time) {
	for _, s := range q.subs {
		for i := 0; i < len(s.entries); i++ {
			e := s.entries[i]
			if e.leased && !e.leaseUntil.After(now) {
				n := len(s.entries)
				q.failLocked(s, e, i, now)
				if len(s.entries) < n {
					i--
				}
			}
		}
	}
}

// Published returns a copy of every message ever published to topic, in
// order, including messages dead-lettered to it; nil for a missing topic.
func (q *Queue) Published(topic string) []queue.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireLocked(time.Now())
	t := q.topics[topic]
	if t == nil {
		return nil
	}
	return t.published.messages()
}

// Pending returns how many messages of subscription are neither acked nor
// dead-lettered, in flight or not; 0 for a missing subscription.
func (q *Queue) Pending(subscription string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireLocked(time.Now())
	if s := q.subs[subscription]; s != nil {
		return len(s.entries)
	}
	return 0
}

// Close stops every Receive (they return an errclass.Permanent error after
// their handlers returned) and makes later calls fail. Idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
	return nil
}
