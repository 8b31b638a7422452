// Package metricstest reads what a metrics.Recorder recorded, in memory,
// for tests: an OpenTelemetry SDK meter provider with a manual reader.
package metricstest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/aiprod/aiprod/pkg/metrics"
)

// Reader collects the metrics of one Recorder.
type Reader struct {
	r *sdkmetric.ManualReader
}

// New returns a Recorder whose measurements the returned Reader reads.
func New() (*metrics.Recorder, *Reader) {
	r := sdkmetric.NewManualReader()
	return metrics.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))), &Reader{r: r}
}

// Point is one data point: its labels and value (a sum, a gauge's last
// value, or a histogram's count).
type Point struct {
	Labels map[string]string
	Value  float64
}

// Points returns the data points of instrument name (none when nothing was
// recorded).
func (r *Reader) Points(t *testing.T, name string) []Point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.r.Collect(context.Background(), &rm))
	var out []Point
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				out = append(out, points(m.Data)...)
			}
		}
	}
	return out
}

// Value returns the value of name's data point with exactly labels (given
// as key, value pairs), and whether there is one.
func (r *Reader) Value(t *testing.T, name string, labels ...string) (float64, bool) {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, p := range r.Points(t, name) {
		if equal(p.Labels, want) {
			return p.Value, true
		}
	}
	return 0, false
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func labels(s attribute.Set) map[string]string {
	out := map[string]string{}
	for _, kv := range s.ToSlice() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

func points(d metricdata.Aggregation) []Point {
	switch d := d.(type) {
	case metricdata.Sum[int64]:
		return values(d.DataPoints)
	case metricdata.Sum[float64]:
		return values(d.DataPoints)
	case metricdata.Gauge[int64]:
		return values(d.DataPoints)
	case metricdata.Gauge[float64]:
		return values(d.DataPoints)
	case metricdata.Histogram[float64]:
		var out []Point
		for _, p := range d.DataPoints {
			out = append(out, Point{labels(p.Attributes), float64(p.Count)})
		}
		return out
	}
	return nil
}

func values[N int64 | float64](dps []metricdata.DataPoint[N]) []Point {
	out := make([]Point, 0, len(dps))
	for _, p := range dps {
		out = append(out, Point{labels(p.Attributes), float64(p.Value)})
	}
	return out
}
