package firestorestore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

func TestJobDocRoundTrip(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC)
	end := t0.Add(time.Minute)
	maxCost := money.MustParse("2.5")
	full := &job.Job{
		ID: "id-1", ProjectID: "p", UserID: "alice", Status: job.StatusFailed,
		Request: job.Request{
			Prompt: "fox", DurationSeconds: 5, Resolution: job.Res4K, AspectRatio: job.Aspect1x1,
			QualityTier: job.TierDraft, ImageURL: "https://x/i.png", Audio: true, MaxCostUSD: &maxCost,
			Backends: []string{"veo"}, UserID: "alice", WebhookURL: "https://x/h",
			Metadata: map[string]string{"k": "v"},
		},
		Backend: "veo",
		Attempts: []job.Attempt{{
			Number: 1, Backend: "veo", Model: "veo-3", Status: job.AttemptFailed, Handle: "h",
			Error:         &job.ErrorInfo{Code: job.CodeContentRejected, Message: "no"},
			EstimatedCost: 400000, Cost: 1, StartedAt: t0, SubmittedAt: &t0, EndedAt: &end, LastProgressAt: &end,
			DurationSeconds: 8,
		}},
		EstimatedCost: 400000, Cost: 1,
		Result:  &job.Result{VideoURL: "https://x/v.mp4", DurationSeconds: 5},
		Error:   &job.ErrorInfo{Code: job.CodeContentRejected, Message: "no"},
		TraceID: "t", IdempotencyKey: "k", ExcludedBackends: []string{"luma"},
		CreatedAt: t0, UpdatedAt: end, CompletedAt: &end,
	}
	minimal := job.New("id-2", "p", job.Request{Prompt: "fox", DurationSeconds: 1}, t0)
	for _, j := range []*job.Job{full, minimal} {
		d := toJobDoc(j)
		require.Equal(t, t0.Add(Retention), d.ExpireAt)
		require.Equal(t, int64(j.Cost), d.CostMicros)
		require.Equal(t, j, fromJobDoc(j.ID, d))
	}
	require.Equal(t, job.CodeContentRejected, toJobDoc(full).ErrorCode, "error_code is queryable")
	require.Empty(t, toJobDoc(minimal).ErrorCode)
}

func TestBackendDocRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	b := store.BackendState{Name: "runway", Disabled: true, UpdatedAt: at,
		Breaker: circuit.Breaker{State: circuit.Open, ConsecutiveFailures: 3, LastError: "503", OpenedAt: at}}
	require.Equal(t, b, fromBackendDoc("runway", toBackendDoc(b)))
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"5f0c6a1e-0000-4000-8000-000000000000": true, "runway": true,
		"": false, "a/b": false, ".": false, "..": false, "__x__": false,
	} {
		require.Equal(t, want, validID(id), "%q", id)
	}
}
