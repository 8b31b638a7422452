package telemetry

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// metricsHandler is the /metrics handler of the installed Prometheus reader.
var metricsHandler atomic.Pointer[http.Handler]

// SetupMetrics installs the global meter provider (package metrics records
// on it). Its readers are a Prometheus reader, whose text MetricsHandler
// serves, and those given (e.g. an OTLP or a Google Cloud Monitoring
// periodic reader). The returned function flushes and stops them.
func SetupMetrics(serviceName string, readers ...sdkmetric.Reader) (func(context.Context) error, error) {
	reg := prometheus.NewRegistry()
	prom, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, errors.Join(errors.New("prometheus exporter"), err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithResource(serviceResource(serviceName)), sdkmetric.WithReader(prom)}
	for _, r := range readers {
		opts = append(opts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	otel.SetMeterProvider(mp)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	metricsHandler.Store(&h)
	return mp.Shutdown, nil
}

// MetricsHandler serves the Prometheus text of the metrics of the meter
// provider SetupMetrics installed (GET /metrics); before SetupMetrics it
// answers 503.
func MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := metricsHandler.Load()
		if h == nil {
			http.Error(w, "metrics are not set up", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	})
}
