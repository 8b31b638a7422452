package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/metrics/metricstest"
)

func TestWebhookOutcomesStartAtZero(t *testing.T) {
	t.Parallel()
	rec, read := metricstest.New()
	for _, o := range metrics.WebhookOutcomes {
		v, ok := read.Value(t, metrics.WebhookDeliveries, metrics.LabelOutcome, o)
		require.True(t, ok, o)
		assert.Zero(t, v, o)
	}
	rec.WebhookDelivery(context.Background(), "delivered")
	v, _ := read.Value(t, metrics.WebhookDeliveries, metrics.LabelOutcome, "delivered")
	assert.Equal(t, 1.0, v)
}

func TestCircuitStateValues(t *testing.T) {
	t.Parallel()
	rec, read := metricstest.New()
	for state, want := range map[circuit.State]float64{circuit.Closed: 0, circuit.HalfOpen: 1, circuit.Open: 2} {
		rec.CircuitState(context.Background(), "b-"+string(state), state)
		v, ok := read.Value(t, metrics.BackendCircuitState, metrics.LabelBackend, "b-"+string(state))
		require.True(t, ok)
		assert.Equal(t, want, v, state)
	}
	rec.BackendRequest(context.Background(), "b", "poll", "ok", time.Millisecond)
	v, _ := read.Value(t, metrics.BackendRequests, metrics.LabelBackend, "b", metrics.LabelOperation, "poll", metrics.LabelOutcome, "ok")
	assert.Equal(t, 1.0, v)
}

// Each label combination is its own series, also when two measurements
// share label names and values but not an instrument, and an HTTP status
// is a label value of its own.
func TestLabelCombinationsStayApart(t *testing.T) {
	t.Parallel()
	rec, read := metricstest.New()
	ctx := context.Background()
	rec.BackendRequest(ctx, "luma", "poll", "ok", time.Millisecond)
	rec.BackendRequest(ctx, "luma", "poll", "retryable", time.Millisecond)
	rec.BackendRequest(ctx, "luma", "poll", "ok", time.Millisecond)
	rec.InFlight(ctx, "luma", 1)
	rec.CircuitState(ctx, "luma", circuit.Open)
	rec.HTTPRequest(ctx, "/v1/jobs", 202, time.Millisecond)
	rec.HTTPRequest(ctx, "/v1/jobs", 400, time.Millisecond)
	for outcome, want := range map[string]float64{"ok": 2, "retryable": 1} {
		v, ok := read.Value(t, metrics.BackendRequests, metrics.LabelBackend, "luma", metrics.LabelOperation, "poll", metrics.LabelOutcome, outcome)
		require.True(t, ok, outcome)
		assert.Equal(t, want, v, outcome)
	}
	v, _ := read.Value(t, metrics.BackendInFlight, metrics.LabelBackend, "luma")
	assert.Equal(t, 1.0, v)
	v, _ = read.Value(t, metrics.BackendCircuitState, metrics.LabelBackend, "luma")
	assert.Equal(t, 2.0, v)
	assert.Len(t, read.Points(t, metrics.HTTPServerRequestDuration), 2)
}

// A measurement of a label combination seen before allocates nothing of
// its own (not parallel: AllocsPerRun).
func TestRepeatedMeasurementsDoNotAllocate(t *testing.T) {
	rec, _ := metricstest.New()
	ctx := context.Background()
	measure := func() {
		rec.QueueMessage(ctx, "aiprod-router", "ack")
		rec.BackendRequest(ctx, "luma", "submit", "ok", time.Millisecond)
		rec.InFlight(ctx, "luma", 1)
	}
	measure()
	assert.Zero(t, testing.AllocsPerRun(100, measure))
}
