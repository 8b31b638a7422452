package memqueue

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/queue"
)

// The message log gives back what was added, in order and as it was: nil
// and empty data and attributes told apart, messages larger than a chunk,
// the publish time's instant.
func TestMessageLogRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Now()
	in := []queue.Message{
		{ID: "1", Data: []byte("a"), Attributes: map[string]string{"job_id": "j", "": "empty key ok here"}, PublishTime: now},
		{ID: "2", Data: nil, Attributes: map[string]string{"k": ""}, PublishTime: now.Add(time.Nanosecond)},
		{ID: "3", Data: []byte{}, Attributes: nil},
		{ID: "4", Data: bytes.Repeat([]byte("x"), messageLogChunk+10), Attributes: map[string]string{}},
	}
	for i := range 3000 { // several chunks
		in = append(in, queue.Message{ID: strconv.Itoa(5 + i), Data: []byte(strconv.Itoa(i)), PublishTime: now})
	}
	var l messageLog
	for _, m := range in {
		l.add(m.ID, encodeBody(m.Data, m.Attributes), m.PublishTime)
	}
	require.Greater(t, len(l.chunks), 2)
	out := l.messages()
	require.Len(t, out, len(in))
	for i, m := range in {
		got := out[i]
		assert.Equal(t, m.ID, got.ID)
		assert.Equal(t, m.Data, got.Data, "message %s", m.ID)
		assert.Equal(t, m.Data == nil, got.Data == nil, "message %s", m.ID)
		assert.Equal(t, m.Attributes, got.Attributes, "message %s", m.ID)
		assert.Equal(t, m.Attributes == nil, got.Attributes == nil, "message %s", m.ID)
		assert.True(t, m.PublishTime.Equal(got.PublishTime), "message %s", m.ID)
	}
	out[0].Attributes["job_id"] = "changed"
	assert.Equal(t, "j", l.messages()[0].Attributes["job_id"], "copies")
	assert.NotNil(t, (&messageLog{}).messages())
}
