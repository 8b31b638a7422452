package dispatch

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fastPathCorpus is wire data the fast paths see, and variations of it
// that they must leave to encoding/json (or read exactly as it does).
var fastPathCorpus = []string{
	`{"job_id":"5f0c6a1e-2b4d-4e0a-9c55-0b9d2f7e4a10","project_id":"dev","attempt":2,"backend":"luma","model":"ray-2","seconds":5,"estimate_usd":0.71}`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b"}`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b"}` + "\n \t",
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b"} {}`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b"}}`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b","extra":1}`,
	`{"JOB_ID":"j","project_id":"p","attempt":1,"backend":"b"}`,
	`{"job_id":"j","job_id":"k","project_id":"p","attempt":1,"backend":"b"}`,
	`{"job_id":"j\u00e9","project_id":"p","attempt":1,"backend":"b"}`,
	`{"job_id":"j\"","project_id":"p","attempt":1,"backend":"b"}`,
	`{"job_id":"jé","project_id":"p","attempt":1,"backend":"b"}`,
	`{"job_id":"j<&>","project_id":"p","attempt":1,"backend":"b"}`,
	`{"job_id":null,"project_id":"p","attempt":1,"backend":"b"}`,
	`{"job_id":7,"project_id":"p","attempt":1,"backend":"b"}`,
	`{"job_id":"j","project_id":"p","attempt":"1","backend":"b"}`,
	`{"job_id":"j","project_id":"p","attempt":1.0,"backend":"b"}`,
	`{"job_id":"j","project_id":"p","attempt":1e0,"backend":"b"}`,
	`{"job_id":"j","project_id":"p","attempt":-0,"backend":"b"}`,
	`{"job_id":"j","project_id":"p","attempt":01,"backend":"b"}`,
	`{"job_id":"j","project_id":"p","attempt":99999999999999999999,"backend":"b"}`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b","estimate_usd":0.0000001}`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b","estimate_usd":"0.25"}`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b","estimate_usd":1e-2}`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b","estimate_usd":-0.5}`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b","seconds":-3}`,
	`{"job_id": "j","project_id":"p","attempt":1,"backend":"b"}`,
	` {"job_id":"j","project_id":"p","attempt":1,"backend":"b"}`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b",}`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend":"b"`,
	`{"job_id":"j","project_id":"p","attempt":1,"backend"}`,
	`{}`, `{`, `}`, ``, `[]`, `null`, `{"a":{"b":1}}`, `{"job_id":"j" "x":1}`,
	`{"job_id":"j","project_id":"p","status":"succeeded"}`,
	`{"job_id":"j","project_id":"p","status":"failed","error":{"code":"no_backend","message":"none"}}`,
	`{"job_id":"j","project_id":"p","status":"failed","error":null}`,
	`{"job_id":"j","project_id":"p","status":"nope"}`,
	`{"job_id":"j","project_id":"p","status":"succeeded"} trailing`,
	`{"job_id":"j","project_id":"p","status":"succeeded","attempt":1}`,
	`{"Status":"succeeded","job_id":"j","project_id":"p"}`,
	`{"job_id":"j","project_id":"p","status":"succeeded","tier":"premium","created_at":"2026-11-25T12:00:00Z","completed_at":"2026-11-25T12:03:07.25Z"}`,
	`{"job_id":"j","project_id":"p","status":"succeeded","created_at":"2026-11-25T12:00:00+01:00"}`,
	`{"job_id":"j","project_id":"p","status":"succeeded","created_at":"2026-11-25 12:00:00Z"}`,
	`{"job_id":"j","project_id":"p","status":"succeeded","created_at":"2026-11-25T12:00:00"}`,
	`{"job_id":"j","project_id":"p","status":"succeeded","created_at":null}`,
	`{"job_id":"j","project_id":"p","status":"succeeded","completed_at":null}`,
	`{"job_id":"j","project_id":"p","status":"succeeded","completed_at":"x"}`,
	`{"job_id":"j","project_id":"p","status":"succeeded","completed_at":7}`,
	`{"job_id":"j","project_id":"p","status":"succeeded","tier":7}`,
}

// Each fast path reads exactly what encoding/json reads, or leaves the
// input to it: whatever it accepts, encoding/json accepts with the same
// value.
func TestFastPathsAgreeWithEncodingJSON(t *testing.T) {
	t.Parallel()
	fast := 0
	for _, in := range fastPathCorpus {
		fast += checkFastPaths(t, []byte(in))
	}
	require.GreaterOrEqual(t, fast, 5, "the usual wire form takes the fast path")
}

func FuzzFastPathsAgreeWithEncodingJSON(f *testing.F) {
	for _, in := range fastPathCorpus {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFastPaths(t, b) })
}

// checkFastPaths compares both fast paths on b with encoding/json, and
// returns how many took b.
func checkFastPaths(t *testing.T, b []byte) int {
	t.Helper()
	n := 0
	if m, ok := decodeMessage(b); ok {
		n++
		want, err := decodeMessageJSON(b)
		require.NoError(t, err, "%q: the fast path accepted what encoding/json refuses", b)
		require.Equal(t, want, m, "%q", b)
	}
	if ev, ok := decodeLifecycle(b); ok {
		n++
		want, err := decodeLifecycleJSON(b)
		require.NoError(t, err, "%q: the fast path accepted what encoding/json refuses", b)
		require.Equal(t, want, ev, "%q", b)
	}
	return n
}

// The usual messages take the fast path, and decode as before.
func TestUsualMessagesTakeTheFastPath(t *testing.T) {
	t.Parallel()
	m := Message{JobID: "5f0c6a1e-2b4d-4e0a-9c55-0b9d2f7e4a10", ProjectID: "dev", Attempt: 2, Backend: "luma",
		Model: "ray-2", Seconds: 5, Estimate: 710_000}
	b, err := m.Encode()
	require.NoError(t, err)
	got, ok := decodeMessage(b)
	require.True(t, ok, string(b))
	require.Equal(t, m, got)
	ev, ok := decodeLifecycle([]byte(`{"job_id":"j","project_id":"p","status":"succeeded"}`))
	require.True(t, ok)
	require.Equal(t, Lifecycle{JobID: "j", ProjectID: "p", Status: "succeeded"}, ev)
	done := time.Date(2026, 11, 25, 12, 3, 7, 250_000_000, time.UTC)
	succeeded := Lifecycle{JobID: "j", ProjectID: "p", Status: "succeeded", Tier: "draft",
		CreatedAt: done.Add(-3 * time.Minute), CompletedAt: &done}
	lb, err := json.Marshal(succeeded)
	require.NoError(t, err)
	ev, ok = decodeLifecycle(lb)
	require.True(t, ok, string(lb))
	require.Equal(t, succeeded, ev)
	_, ok = decodeMessage([]byte(strings.Replace(string(b), `"dev"`, `"d\u0065v"`, 1)))
	require.False(t, ok, "escapes are encoding/json's")
}
