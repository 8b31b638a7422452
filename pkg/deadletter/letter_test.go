package deadletter

import (
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/queue"
)

// FuzzLetter feeds a dead letter of any data and attributes (reason,
// source subscription, Pub/Sub's dead-letter attributes, panic and one
// more of any name, each present when not empty) to the listing and the
// replay: it never panics; the letter has a reason, keeps the message
// as it is and is replayed to the topic whose dead letters the subscription
// holds, whatever the attributes say (a publisher may set any of them); the
// replayed attributes are the message's without those dead-lettering adds.
func FuzzLetter(f *testing.F) {
	for _, s := range []struct {
		sub                                     uint8
		data, reason, src, psSrc, psCount, k, v string
	}{
		{0, `{"prompt":"p","duration_seconds":5}`, "invalid job request: field prompt: is required", "aiprod-router", "", "", queue.AttrProjectID, "dev"},
		{2, `{"job_id":"j","project_id":"p","attempt":1,"backend":"veo"}`, "", "", "projects/p/subscriptions/aiprod-worker-veo", "5", queue.AttrTraceParent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{1, "\xff\x00", "", "", "", "-3", queue.AttrPanic, "boom"},
		{0, "", "", "aiprod-worker-veo", "", "", "", ""},
		{2, "x", "", "", "aiprod-router", "x", "CloudPubSubDeadLetterSourceTopicPublishTime", "2026-11-25T12:00:00Z"},
		{1, "x", "r", "aiprod-worker-", "projects/p/subscriptions/", "99999999999999999999", "reason", ""},
	} {
		f.Add(s.sub, []byte(s.data), s.reason, s.src, s.psSrc, s.psCount, s.k, s.v)
	}
	subs := Subscriptions([]string{"veo", "runway"})
	f.Fuzz(func(t *testing.T, sub uint8, data []byte, reason, src, psSrc, psCount, k, v string) {
		dlq := subs[int(sub)%len(subs)]
		attrs := map[string]string{}
		for key, val := range map[string]string{queue.AttrReason: reason, queue.AttrSourceSub: src,
			PubSubAttrSourceSubscription: psSrc, PubSubAttrSourceDeliveryCount: psCount} {
			if val != "" {
				attrs[key] = val
			}
		}
		if k != "" {
			attrs[k] = v
		}
		sent := maps.Clone(attrs)
		l := letterOf(dlq, &queue.Message{ID: "1", Data: data, Attributes: attrs})

		require.Equal(t, sent, attrs, "the message's attributes changed")
		require.Equal(t, attrs, l.Attributes)
		require.Equal(t, string(data), string(l.Data))
		require.NotEmpty(t, l.Reason)
		if r := attrs[queue.AttrReason]; r != "" {
			require.Equal(t, r, l.Reason)
		}
		require.GreaterOrEqual(t, l.DeliveryAttempt, 0)
		require.Equal(t, strings.TrimSuffix(dlq, queue.DeadLetterSuffix), l.Topic,
			"a dead letter of %s would be replayed to %s (attributes %v)", dlq, l.Topic, attrs)

		replay := ReplayAttributes(attrs)
		require.Equal(t, sent, attrs, "ReplayAttributes changed its argument")
		for key, val := range attrs {
			added := key == queue.AttrReason || key == queue.AttrSourceSub || key == queue.AttrPanic ||
				strings.HasPrefix(key, PubSubAttrPrefix)
			got, kept := replay[key]
			require.Equal(t, !added, kept, "attribute %q", key)
			if kept {
				require.Equal(t, val, got)
			}
		}
		require.LessOrEqual(t, len(replay), len(attrs))
	})
}
