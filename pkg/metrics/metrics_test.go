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
