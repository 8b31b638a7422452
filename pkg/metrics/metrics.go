package metrics

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
)

// scope is the instrumentation scope of every AIPROD instrument.
const scope = "github.com/aiprod/aiprod"

// Label keys (low cardinality: never a job id, prompt or user id).
const (
	LabelProject      = "project"
	LabelTier         = "tier"
	LabelBackend      = "backend"
	LabelStatus       = "status"
	LabelErrorCode    = "error_code"
	LabelOperation    = "operation"
	LabelOutcome      = "outcome"
	LabelModel        = "model"
	LabelSubscription = "subscription"
	LabelSignal       = "signal"
	LabelRoute        = "http.route"
	LabelStatusCode   = "http.response.status_code"
)

// Recorder records AIPROD's metrics on one meter provider. Its methods are
// safe for concurrent use; a nil *Recorder records on the global provider
// (Default).
type Recorder struct {
	jobsAccepted       metric.Int64Counter
	jobsCompleted      metric.Int64Counter
	jobDuration        metric.Float64Histogram
	backendRequests    metric.Int64Counter
	backendDuration    metric.Float64Histogram
	generationDuration metric.Float64Histogram
	cost               metric.Float64Counter
	budgetSpent        metric.Float64Gauge
	budgetReserved     metric.Float64Gauge
	budgetLimit        metric.Float64Gauge
	circuitState       metric.Int64Gauge
	inFlight           metric.Int64UpDownCounter
	anomaly            metric.Int64Gauge
	queueMessages      metric.Int64Counter
	webhookDeliveries  metric.Int64Counter
	httpDuration       metric.Float64Histogram

	labels labelSets
}

// latencyBuckets are the bucket bounds, in seconds, of the latency
// histograms (API calls, provider calls) and secondsBuckets those of job
// and generation durations.
var (
	latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	secondsBuckets = []float64{1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600}
)

// New returns a Recorder of mp's meter. Instrument errors (none with the
// OpenTelemetry SDK and these names) go to otel.Handle.
func New(mp metric.MeterProvider) *Recorder {
	m := mp.Meter(scope)
	r := &Recorder{}
	var err error
	check := func(e error) {
		if e != nil && err == nil {
			err = e
		}
	}
	counter := func(name, desc string) metric.Int64Counter {
		c, e := m.Int64Counter(name, metric.WithDescription(desc))
		check(e)
		return c
	}
	histogram := func(name, desc string, bounds []float64) metric.Float64Histogram {
		h, e := m.Float64Histogram(name, metric.WithDescription(desc), metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(bounds...))
		check(e)
		return h
	}
	usdGauge := func(name, desc string) metric.Float64Gauge {
		g, e := m.Float64Gauge(name, metric.WithDescription(desc))
		check(e)
		return g
	}
	r.jobsAccepted = counter(JobsAccepted, "jobs accepted (HTTP or direct publish)")
	r.jobsCompleted = counter(JobsCompleted, "jobs that reached a terminal status")
	r.jobDuration = histogram(JobDuration, "acceptance to terminal status", secondsBuckets)
	r.backendRequests = counter(BackendRequests, "provider API calls")
	r.backendDuration = histogram(BackendRequestDuration, "provider API call latency", latencyBuckets)
	r.generationDuration = histogram(BackendGenerationDuration, "submit to result at the provider", secondsBuckets)
	cost, e := m.Float64Counter(Cost, metric.WithDescription("recorded cost in USD"))
	check(e)
	r.cost = cost
	r.budgetSpent = usdGauge(BudgetSpent, "budget spent this period, USD")
	r.budgetReserved = usdGauge(BudgetReserved, "budget reserved this period, USD")
	r.budgetLimit = usdGauge(BudgetLimit, "budget limit this period, USD")
	circuitState, e := m.Int64Gauge(BackendCircuitState, metric.WithDescription("0 closed, 1 half-open, 2 open"))
	check(e)
	inFlight, e := m.Int64UpDownCounter(BackendInFlight, metric.WithDescription("generations running (concurrency slots taken)"))
	check(e)
	r.circuitState, r.inFlight = circuitState, inFlight
	anomaly, e := m.Int64Gauge(BackendAnomaly, metric.WithDescription("1 while a backend's signal (latency, error_rate, cost_accuracy) is anomalous, else 0"))
	check(e)
	r.anomaly = anomaly
	r.queueMessages = counter(QueueMessages, "messages handled")
	r.webhookDeliveries = counter(WebhookDeliveries, "webhook attempts")
	r.httpDuration = histogram(HTTPServerRequestDuration, "API latency", latencyBuckets)
	if err != nil {
		otel.Handle(err)
	}
	// Known outcomes start at zero, so that rate() and alerts see the
	// series before the first delivery (Prometheus's advice on counters).
	for _, o := range WebhookOutcomes {
		r.webhookDeliveries.Add(context.Background(), 0, r.labels.get(&labelsOutcome, "", 0, o).add...)
	}
	return r
}

var defaultRecorder = sync.OnceValue(func() *Recorder { return New(otel.GetMeterProvider()) })

// Default is the Recorder of the global meter provider (telemetry.Setup
// installs it; instruments made before that are wired to it then).
func Default() *Recorder { return defaultRecorder() }

// or returns r, or Default for a nil r.
func (r *Recorder) or() *Recorder {
	if r == nil {
		return Default()
	}
	return r
}

// JobAccepted counts a job accepted for project.
func (r *Recorder) JobAccepted(ctx context.Context, j *job.Job) {
	r = r.or()
	r.jobsAccepted.Add(ctx, 1, r.labels.get(&labelsProjectTier, "", 0, j.ProjectID, string(j.Request.QualityTier)).add...)
}

// JobCompleted counts job j, which reached its terminal status, and
// records its time from acceptance.
func (r *Recorder) JobCompleted(ctx context.Context, j *job.Job) {
	r = r.or()
	code := ""
	if j.Error != nil {
		code = j.Error.Code
	}
	tier := string(j.Request.QualityTier)
	r.jobsCompleted.Add(ctx, 1, r.labels.get(&labelsCompleted, "", 0, j.ProjectID, j.Backend, tier, string(j.Status), code).add...)
	if j.CompletedAt != nil {
		r.jobDuration.Record(ctx, j.CompletedAt.Sub(j.CreatedAt).Seconds(),
			r.labels.get(&labelsDuration, "", 0, j.Backend, tier, string(j.Status)).rec...)
	}
}

// CostRecorded adds cost, settled for an attempt on backend, to project's.
func (r *Recorder) CostRecorded(ctx context.Context, project, backend string, cost money.Micros) {
	r = r.or()
	r.cost.Add(ctx, cost.Float64(), r.labels.get(&labelsProjectBackend, "", 0, project, backend).add...)
}

// Budget records project's budget state of the current period; limit nil
// means no limit (the limit gauge is then not recorded).
func (r *Recorder) Budget(ctx context.Context, project string, spent, reserved money.Micros, limit *money.Micros) {
	r = r.or()
	a := r.labels.get(&labelsProject, "", 0, project).rec
	r.budgetSpent.Record(ctx, spent.Float64(), a...)
	r.budgetReserved.Record(ctx, reserved.Float64(), a...)
	if limit != nil {
		r.budgetLimit.Record(ctx, limit.Float64(), a...)
	}
}

// BackendRequest records one provider API call: operation is submit, poll,
// result, cancel or find; outcome "ok" or the error class.
func (r *Recorder) BackendRequest(ctx context.Context, backend, operation, outcome string, d time.Duration) {
	r = r.or()
	r.backendRequests.Add(ctx, 1, r.labels.get(&labelsBackendRequest, "", 0, backend, operation, outcome).add...)
	r.backendDuration.Record(ctx, d.Seconds(), r.labels.get(&labelsBackendDuration, "", 0, backend, operation).rec...)
}

// Generation records a generation's time from submit to result.
func (r *Recorder) Generation(ctx context.Context, backend, model string, d time.Duration) {
	r = r.or()
	r.generationDuration.Record(ctx, d.Seconds(), r.labels.get(&labelsGeneration, "", 0, backend, model).rec...)
}

// CircuitState records backend's circuit: 0 closed, 1 half-open, 2 open.
func (r *Recorder) CircuitState(ctx context.Context, backend string, state circuit.State) {
	v := int64(0)
	switch state {
	case circuit.HalfOpen:
		v = 1
	case circuit.Open:
		v = 2
	}
	r = r.or()
	r.circuitState.Record(ctx, v, r.labels.get(&labelsBackend, "", 0, backend).rec...)
}

// BackendAnomaly records whether backend's signal (package learn's
// Signals) is anomalous: 1, or 0.
func (r *Recorder) BackendAnomaly(ctx context.Context, backend, signal string, anomalous bool) {
	v := int64(0)
	if anomalous {
		v = 1
	}
	r = r.or()
	r.anomaly.Record(ctx, v, r.labels.get(&labelsBackendSignal, "", 0, backend, signal).rec...)
}

// InFlight adds delta (+1 when a generation starts running here, -1 when
// this process stops following it) to backend's running generations.
func (r *Recorder) InFlight(ctx context.Context, backend string, delta int64) {
	r = r.or()
	r.inFlight.Add(ctx, delta, r.labels.get(&labelsBackend, "", 0, backend).add...)
}

// QueueMessage counts a message of subscription handled with outcome (ack,
// nack, dead_letter).
func (r *Recorder) QueueMessage(ctx context.Context, subscription, outcome string) {
	r = r.or()
	r.queueMessages.Add(ctx, 1, r.labels.get(&labelsQueue, "", 0, subscription, outcome).add...)
}

// WebhookOutcomes are the outcomes of aiprod_webhook_deliveries_total.
var WebhookOutcomes = []string{"delivered", "retried", "failed"}

// WebhookDelivery counts a webhook attempt (one of WebhookOutcomes).
func (r *Recorder) WebhookDelivery(ctx context.Context, outcome string) {
	r = r.or()
	r.webhookDeliveries.Add(ctx, 1, r.labels.get(&labelsOutcome, "", 0, outcome).add...)
}

// HTTPRequest records one API request's latency by route pattern and
// status code.
func (r *Recorder) HTTPRequest(ctx context.Context, route string, status int, d time.Duration) {
	r = r.or()
	r.httpDuration.Record(ctx, d.Seconds(), r.labels.get(&labelsHTTP, LabelStatusCode, status, route).rec...)
}
