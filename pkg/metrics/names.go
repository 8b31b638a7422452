// Package metrics holds AIPROD's OpenTelemetry instruments: the names and
// labels of DESIGN.md "Metrics", created once on the global meter provider
// and recorded by the services (consumer layer, API, worker, budgets,
// circuits).
//
// # Names
//
// Instrument names are the Prometheus names of DESIGN.md without the
// "_total" suffix that the Prometheus exporter adds to counters:
// aiprod_jobs_accepted is served as aiprod_jobs_accepted_total. On Google
// Cloud the same instruments are the Cloud Monitoring metric types
// "workload.googleapis.com/<name>" (CloudMonitoringType).
package metrics

// Instrument names.
const (
	JobsAccepted              = "aiprod_jobs_accepted"                       // counter: project, tier
	JobsCompleted             = "aiprod_jobs_completed"                      // counter: project, backend, tier, status, error_code
	JobDuration               = "aiprod_job_duration_seconds"                // histogram: backend, tier, status
	BackendRequests           = "aiprod_backend_requests"                    // counter: backend, operation, outcome
	BackendRequestDuration    = "aiprod_backend_request_duration_seconds"    // histogram: backend, operation
	BackendGenerationDuration = "aiprod_backend_generation_duration_seconds" // histogram: backend, model
	Cost                      = "aiprod_cost_usd"                            // counter: project, backend
	BudgetSpent               = "aiprod_budget_spent_usd"                    // gauge: project
	BudgetReserved            = "aiprod_budget_reserved_usd"                 // gauge: project
	BudgetLimit               = "aiprod_budget_limit_usd"                    // gauge: project
	BackendCircuitState       = "aiprod_backend_circuit_state"               // gauge: backend
	BackendInFlight           = "aiprod_backend_in_flight"                   // gauge: backend
	BackendAnomaly            = "aiprod_backend_anomaly"                     // gauge: backend, signal (1 while anomalous)
	QueueMessages             = "aiprod_queue_messages"                      // counter: subscription, outcome
	WebhookDeliveries         = "aiprod_webhook_deliveries"                  // counter: outcome
	HTTPServerRequestDuration = "http.server.request.duration"               // histogram (OTel HTTP semconv): http_route, http_response_status_code
)

// Names lists every instrument name.
var Names = []string{
	JobsAccepted, JobsCompleted, JobDuration, BackendRequests, BackendRequestDuration,
	BackendGenerationDuration, Cost, BudgetSpent, BudgetReserved, BudgetLimit,
	BackendCircuitState, BackendInFlight, BackendAnomaly, QueueMessages, WebhookDeliveries, HTTPServerRequestDuration,
}

// CloudMonitoringPrefix is the prefix of the Cloud Monitoring metric types
// that the Google Cloud metric exporter writes.
const CloudMonitoringPrefix = "workload.googleapis.com/"

// CloudMonitoringType is the Cloud Monitoring metric type of instrument name.
func CloudMonitoringType(name string) string { return CloudMonitoringPrefix + name }
