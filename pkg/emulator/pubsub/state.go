package pubsubemu

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// state is the emulator's registry of topics and subscriptions. Its lock
// guards only the two maps: the hot path (Publish, deliveries, acks) takes
// it for reading, to look a name up, and then works under the lock of one
// subscription at a time.
type state struct {
	now func() time.Time

	mu     sync.RWMutex
	topics map[string]*topic
	subs   map[string]*subscription
	closed bool

	ids  atomic.Uint64 // message ids
	gens atomic.Uint64 // subscription generations
}

func newState(now func() time.Time) *state {
	return &state{now: now, topics: map[string]*topic{}, subs: map[string]*subscription{}}
}

// topic is a topic and the subscriptions attached to it.
type topic struct {
	proto *pubsubpb.Topic // immutable

	mu   sync.RWMutex
	subs []*subscription // replaced, never changed in place
}

func (t *topic) subscriptions() []*subscription {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.subs
}

func (t *topic) attach(s *subscription) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.subs = append(t.subs[:len(t.subs):len(t.subs)], s)
}

func (t *topic) detach(s *subscription) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*subscription, 0, len(t.subs))
	for _, x := range t.subs {
		if x != s {
			out = append(out, x)
		}
	}
	t.subs = out
}

// topic returns the topic named name, or nil.
func (st *state) topic(name string) *topic {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.topics[name]
}

// subscription returns the subscription named name, or NotFound.
func (st *state) subscription(name string) (*subscription, error) {
	st.mu.RLock()
	s := st.subs[name]
	st.mu.RUnlock()
	if s == nil {
		return nil, status.Errorf(codes.NotFound, "subscription %s not found", name)
	}
	return s, nil
}

// publish gives msgs ids and a publish time and holds them in every
// subscription the topic has now; it returns their ids.
func (st *state) publish(t *topic, msgs []*pubsubpb.PubsubMessage) []string {
	now := st.now()
	ts := timestamppb.New(now)
	ids := make([]string, len(msgs))
	sizes := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = strconv.FormatUint(st.ids.Add(1), 10)
		m.MessageId, m.PublishTime = ids[i], ts
		sizes[i] = int64(len(m.Data))
		for k, v := range m.Attributes {
			sizes[i] += int64(len(k) + len(v))
		}
	}
	for _, s := range t.subscriptions() {
		s.enqueue(msgs, sizes, now) // each keeps what its filter matches
	}
	return ids
}

// apply carries out what a subscription's change asked of others.
func (st *state) apply(fx effects) {
	for t, msgs := range fx.deadLetters {
		st.publish(t, msgs)
	}
}

// close ends every subscription: no timer runs after it.
func (st *state) close() {
	st.mu.Lock()
	st.closed = true
	subs := make([]*subscription, 0, len(st.subs))
	for _, s := range st.subs {
		subs = append(subs, s)
	}
	st.mu.Unlock()
	for _, s := range subs {
		s.close()
	}
}

// listPage returns the names among all that start with prefix, sorted,
// after token (the last name of the previous page), at most size of them
// (100 when size is 0, 1000 at most), and the next page's token.
func listPage(all []string, prefix string, size int32, token string) ([]string, string) {
	switch {
	case size <= 0:
		size = 100
	case size > 1000:
		size = 1000
	}
	var names []string
	for _, n := range all {
		if strings.HasPrefix(n, prefix) && n > token {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) <= int(size) {
		return names, ""
	}
	names = names[:size]
	return names, names[len(names)-1]
}
