package test

// The Terraform in infra/ must deploy what the code expects. These tests
// parse every infra/*.tf with the HCL parser Terraform uses, evaluate the
// expressions they need (variables at their defaults, locals, for_each and
// dynamic blocks, the functions the files call), and compare the result with
// the code: queue.Topology, the Firestore indexes file, the catalog's
// credential variables and backend names, and for the monitoring (alert
// policies, SLOs, dashboard) the instrument names of pkg/metrics and the
// runbook of infra/README.md. A change on either side that the other does
// not follow fails here.
//
// Resources are evaluated as far as this needs: google_pubsub_topic
// instances carry their name and id, so subscriptions' topic references
// resolve; every other resource's attributes are unknown, as they are in a
// Terraform plan before apply. No terraform binary and no network are used.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/aiprod/aiprod/pkg/backend/providers"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/worker"
)

const (
	infraDir             = "../infra"
	firestoreIndexesFile = "../pkg/store/firestorestore/indexes.json"
)

// TestInfraEvaluates: every infra/*.tf file parses, the files README.md
// promises exist, and every expression in them evaluates with the variables'
// defaults, and with pulled workers (undefined locals or variables, unknown
// functions, wrong types in for_each or dynamic blocks fail here).
func TestInfraEvaluates(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"versions.tf", "variables.tf", "pubsub.tf", "firestore.tf", "run.tf",
		"iam.tf", "monitoring.tf", "slo.tf", "dashboard.tf", "bigquery.tf", "bigquery/events_schema.json", "outputs.tf", "README.md"} {
		_, err := os.Stat(filepath.Join(infraDir, f))
		require.NoError(t, err, "infra/%s", f)
	}
	for _, push := range []bool{true, false} { // worker_push's default, and pulled workers
		m := loadInfraWith(t, map[string]cty.Value{"worker_push": cty.BoolVal(push)})
		for _, r := range m.resources {
			for _, in := range m.instances(t, r) {
				m.evalAll(t, in)
			}
		}
		for _, b := range m.others {
			m.evalAll(t, tfInstance{addr: b.Type + "." + strings.Join(b.Labels, "."), body: b.Body, ctx: m.ctx(nil)})
		}
	}
}

// TestInfraPubSubMatchesTopology: the Terraform creates exactly the topics and
// subscriptions of queue.Topology for the catalog's backends, each
// subscription on its topic with the same ack deadline, dead-letter topic,
// max delivery attempts and retry backoff (none where Topology has none) —
// except that a worker subscription that pushes has worker.PushAckDeadline
// and worker.PushMaxDeliveryAttempts. Both with push delivery (the
// default) and without. BigQuery subscriptions (the warehouse's, which no
// service reads) are checked by TestInfraWarehouseSubscription instead.
func TestInfraPubSubMatchesTopology(t *testing.T) {
	t.Parallel()
	for _, push := range []bool{true, false} {
		t.Run(fmt.Sprintf("worker_push=%v", push), func(t *testing.T) {
			t.Parallel()
			checkPubSubTopology(t, loadInfraWith(t, map[string]cty.Value{"worker_push": cty.BoolVal(push)}))
		})
	}
}

func checkPubSubTopology(t *testing.T, m *tfModule) {
	t.Helper()
	want := queue.Topology(catalog.Default().Names())

	var wantTopics []string
	for _, s := range want {
		wantTopics = append(wantTopics, s.Topic)
		if s.DeadLetterTopic != "" {
			wantTopics = append(wantTopics, s.DeadLetterTopic)
		}
	}
	slices.Sort(wantTopics)
	wantTopics = slices.Compact(wantTopics)
	var gotTopics []string
	for _, in := range m.instancesOf(t, "google_pubsub_topic") {
		gotTopics = append(gotTopics, m.str(t, in, "name"))
	}
	slices.Sort(gotTopics)
	require.Equal(t, wantTopics, gotTopics, "google_pubsub_topic names vs queue.Topology topics")

	type subscription struct {
		Topic               string
		AckDeadline         time.Duration
		DeadLetterTopic     string
		MaxDeliveryAttempts int
		MinBackoff          time.Duration
		MaxBackoff          time.Duration
		Filter              string
	}
	got, pushed := map[string]subscription{}, map[string]bool{}
	for _, in := range m.instancesOf(t, "google_pubsub_subscription") {
		if isBigQuerySubscription(t, m, in) {
			continue // the warehouse's, not the services' (TestInfraWarehouseSubscription)
		}
		name := m.str(t, in, "name")
		require.NotContains(t, got, name, "%s: subscription %s declared twice", in.addr, name)
		s := subscription{Topic: topicName(m.str(t, in, "topic")), AckDeadline: 10 * time.Second} // Pub/Sub's default
		if _, ok := in.body.Attributes["ack_deadline_seconds"]; ok {
			s.AckDeadline = time.Duration(m.integer(t, in, "ack_deadline_seconds")) * time.Second
		}
		if _, ok := in.body.Attributes["filter"]; ok {
			s.Filter = m.str(t, in, "filter")
		}
		if len(m.blocks(t, in, "push_config")) > 0 {
			pushed[name] = true
		}
		dl := m.blocks(t, in, "dead_letter_policy")
		require.LessOrEqual(t, len(dl), 1, "%s: dead_letter_policy", in.addr)
		for _, b := range dl {
			s.DeadLetterTopic = topicName(m.str(t, b, "dead_letter_topic"))
			// Pub/Sub would use 5 where it is missing: Topology always sets it.
			s.MaxDeliveryAttempts = int(m.integer(t, b, "max_delivery_attempts"))
		}
		rp := m.blocks(t, in, "retry_policy")
		require.LessOrEqual(t, len(rp), 1, "%s: retry_policy", in.addr)
		for _, b := range rp {
			// Pub/Sub's defaults apply to a missing bound; Topology sets both.
			s.MinBackoff, s.MaxBackoff = 10*time.Second, 600*time.Second
			if v := m.optStr(t, b, "minimum_backoff"); v != "" {
				s.MinBackoff = pubsubDuration(t, v)
			}
			if v := m.optStr(t, b, "maximum_backoff"); v != "" {
				s.MaxBackoff = pubsubDuration(t, v)
			}
		}
		got[name] = s
	}

	var wantNames, gotNames []string
	for _, w := range want {
		wantNames = append(wantNames, w.Name)
		g, ok := got[w.Name]
		if !ok {
			continue // reported by the name comparison below
		}
		if pushed[w.Name] {
			w.AckDeadline = worker.PushAckDeadline // the longest push step Pub/Sub waits for
			w.MaxDeliveryAttempts = worker.PushMaxDeliveryAttempts
		}
		require.Equal(t, subscription{
			Topic: w.Topic, AckDeadline: w.AckDeadline, DeadLetterTopic: w.DeadLetterTopic,
			MaxDeliveryAttempts: w.MaxDeliveryAttempts, MinBackoff: w.MinBackoff, MaxBackoff: w.MaxBackoff, Filter: w.Filter,
		}, g, "subscription %s: Terraform vs queue.Topology", w.Name)
	}
	for n := range got {
		gotNames = append(gotNames, n)
	}
	slices.Sort(wantNames)
	slices.Sort(gotNames)
	require.Equal(t, wantNames, gotNames, "google_pubsub_subscription names vs queue.Topology")
}

// TestInfraFirestoreMatchesIndexes: every composite index and field override
// of pkg/store/firestorestore/indexes.json has its google_firestore_index or
// google_firestore_field (same collection group, fields in the same order
// with the same orders, same TTL and single-field index settings), and the
// Terraform has no others.
// TestInfraFirestoreRecovery: the database keeps point-in-time recovery on
// and is protected from deletion by default (issue 13, finding 10).
func TestInfraFirestoreRecovery(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	dbs := m.instancesOf(t, "google_firestore_database")
	require.Len(t, dbs, 1)
	require.Equal(t, "POINT_IN_TIME_RECOVERY_ENABLED", m.str(t, dbs[0], "point_in_time_recovery_enablement"))
	require.Equal(t, "ABANDON", m.str(t, dbs[0], "deletion_policy"))
}

func TestInfraFirestoreMatchesIndexes(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)

	type indexField struct {
		FieldPath   string `json:"fieldPath"`
		Order       string `json:"order"`
		ArrayConfig string `json:"arrayConfig"`
		QueryScope  string `json:"queryScope"` // field overrides only
	}
	var file struct {
		Indexes []struct {
			CollectionGroup string       `json:"collectionGroup"`
			QueryScope      string       `json:"queryScope"`
			Fields          []indexField `json:"fields"`
		} `json:"indexes"`
		FieldOverrides []struct {
			CollectionGroup string       `json:"collectionGroup"`
			FieldPath       string       `json:"fieldPath"`
			TTL             bool         `json:"ttl"`
			Indexes         []indexField `json:"indexes"` // nil: inherited; empty: none
		} `json:"fieldOverrides"`
	}
	data, err := os.ReadFile(firestoreIndexesFile)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // a new setting there needs a translation here
	require.NoError(t, dec.Decode(&file), firestoreIndexesFile)
	require.NotEmpty(t, file.Indexes)

	fieldSig := func(f indexField) string {
		s := f.FieldPath + ":" + f.Order + f.ArrayConfig
		if f.QueryScope != "" && f.QueryScope != "COLLECTION" {
			s += "@" + f.QueryScope
		}
		return s
	}
	var want []string
	for _, ix := range file.Indexes {
		var fs []string
		for _, f := range ix.Fields {
			fs = append(fs, fieldSig(f))
		}
		want = append(want, fmt.Sprintf("index %s %s (%s)", ix.CollectionGroup, cmp.Or(ix.QueryScope, "COLLECTION"), strings.Join(fs, ", ")))
	}
	for _, fo := range file.FieldOverrides {
		idx := "inherited"
		if fo.Indexes != nil {
			var fs []string
			for _, f := range fo.Indexes {
				f.FieldPath = fo.FieldPath
				fs = append(fs, fieldSig(f))
			}
			idx = "[" + strings.Join(fs, ", ") + "]"
		}
		want = append(want, fmt.Sprintf("field %s.%s ttl=%t indexes=%s", fo.CollectionGroup, fo.FieldPath, fo.TTL, idx))
	}

	var got []string
	for _, in := range m.instancesOf(t, "google_firestore_index") {
		var fs []string
		for _, b := range m.blocks(t, in, "fields") {
			fs = append(fs, fieldSig(indexField{
				FieldPath: m.str(t, b, "field_path"), Order: m.optStr(t, b, "order"), ArrayConfig: m.optStr(t, b, "array_config"),
			}))
		}
		got = append(got, fmt.Sprintf("index %s %s (%s)", m.str(t, in, "collection"),
			cmp.Or(m.optStr(t, in, "query_scope"), "COLLECTION"), strings.Join(fs, ", ")))
	}
	for _, in := range m.instancesOf(t, "google_firestore_field") {
		ttl := len(m.blocks(t, in, "ttl_config")) > 0
		field := m.str(t, in, "field")
		idx := "inherited"
		ics := m.blocks(t, in, "index_config")
		require.LessOrEqual(t, len(ics), 1, "%s: index_config", in.addr)
		for _, ic := range ics {
			var fs []string
			for _, b := range m.blocks(t, ic, "indexes") {
				fs = append(fs, fieldSig(indexField{
					FieldPath: field, Order: m.optStr(t, b, "order"),
					ArrayConfig: m.optStr(t, b, "array_config"), QueryScope: m.optStr(t, b, "query_scope"),
				}))
			}
			idx = "[" + strings.Join(fs, ", ") + "]"
		}
		got = append(got, fmt.Sprintf("field %s.%s ttl=%t indexes=%s", m.str(t, in, "collection"), field, ttl, idx))
	}
	slices.Sort(want)
	slices.Sort(got)
	require.Equal(t, want, got, "Terraform Firestore indexes and fields vs %s", firestoreIndexesFile)
}

// TestInfraWorkerKeysFromSecretManager: every catalog backend is served by a
// worker service (AIPROD_BACKENDS, or all backends when unset); each worker
// reads the credential variable of every backend it serves from Secret
// Manager (value_source.secret_key_ref, no plain value); Veo workers get
// AIPROD_VEO_STORAGE_URI, which the adapter requires. No service sets a key
// variable to a plain value, every service sets GOOGLE_CLOUD_PROJECT
// (required by pkg/platform) and none sets PORT (Cloud Run's own).
func TestInfraWorkerKeysFromSecretManager(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	cat := catalog.Default()

	keyVars := map[string]bool{"AIPROD_ADMIN_KEY": true, "AIPROD_BOOTSTRAP_API_KEY": true, providers.EnvVeoStaticToken: true,
		platform.SecretsKeyVar: true}
	for _, b := range cat.Backends {
		if b.CredentialEnv != "" {
			keyVars[b.CredentialEnv] = true
		}
	}
	servedBy := map[string][]string{}
	services := m.instancesOf(t, "google_cloud_run_v2_service")
	require.NotEmpty(t, services)
	for _, svc := range services {
		name := m.str(t, svc, "name")
		env := m.containerEnv(t, svc)
		for n, e := range env {
			require.False(t, keyVars[n] && e.plain, "%s (%s): %s must come from Secret Manager, not a plain value", name, svc.addr, n)
			require.NotEqual(t, "PORT", n, "%s: PORT is set by Cloud Run", name)
		}
		require.Contains(t, env, "GOOGLE_CLOUD_PROJECT", "%s: pkg/platform requires GOOGLE_CLOUD_PROJECT", name)
		if !strings.HasPrefix(name, "aiprod-worker") {
			continue
		}
		served := cat.Names()
		if e, ok := env["AIPROD_BACKENDS"]; ok {
			require.True(t, e.plain && e.value.IsKnown() && e.value.Type() == cty.String,
				"%s: AIPROD_BACKENDS must be a known plain string", name)
			served = strings.Split(e.value.AsString(), ",")
		}
		for _, bn := range served {
			b := cat.Backend(bn)
			require.NotNil(t, b, "%s: AIPROD_BACKENDS names %q, not in the catalog", name, bn)
			servedBy[bn] = append(servedBy[bn], name)
			if b.CredentialEnv != "" {
				e, ok := env[b.CredentialEnv]
				require.True(t, ok, "%s serves %s but does not set %s", name, bn, b.CredentialEnv)
				require.True(t, e.secret && !e.plain, "%s: %s must be a value_source.secret_key_ref", name, b.CredentialEnv)
			}
			if b.Provider == "veo" {
				require.Contains(t, env, providers.EnvVeoStorageURI, "%s serves Veo backend %s", name, bn)
			}
		}
	}
	for _, bn := range cat.Names() {
		require.NotEmpty(t, servedBy[bn], "no worker service serves backend %s", bn)
	}
}

// TestInfraWorkerPushAuthenticated (issue 13, finding 3): with
// worker_push = false the workers pull (no push_config anywhere, no
// AIPROD_PUSH); by default (worker_push, issue 14 item 7) every worker
// subscription, and only those, pushes to its worker with an
// OIDC token of the push service account for that worker's own audience,
// and the worker is told exactly that audience and account
// (AIPROD_PUSH_AUDIENCE, AIPROD_PUSH_SERVICE_ACCOUNT, authentication not
// off), which is also a custom audience of its service; the push account
// is a run.invoker of each worker and the Pub/Sub agent may mint its
// tokens.
func TestInfraWorkerPushAuthenticated(t *testing.T) {
	t.Parallel()
	names := catalog.Default().Names()
	pull := loadInfraWith(t, map[string]cty.Value{"worker_push": cty.False})
	for _, sub := range pull.instancesOf(t, "google_pubsub_subscription") {
		require.Empty(t, pull.blocks(t, sub, "push_config"), "%s: push_config without worker_push", sub.addr)
	}
	for _, svc := range pull.instancesOf(t, "google_cloud_run_v2_service") {
		require.NotContains(t, pull.containerEnv(t, svc), "AIPROD_PUSH", svc.addr)
	}

	m := loadInfraWith(t, map[string]cty.Value{"project_id": cty.StringVal("p")}) // worker_push at its default
	require.True(t, m.vars["worker_push"].True(), "push delivery is the default deployment")
	const account = "aiprod-push@PROJECT.iam.gserviceaccount.com" // modeled google_service_account.push
	audiences := map[string]string{}                              // backend => audience
	for _, sub := range m.instancesOf(t, "google_pubsub_subscription") {
		name := m.str(t, sub, "name")
		pcs := m.blocks(t, sub, "push_config")
		b, isWorker := strings.CutPrefix(name, queue.WorkerSubscription(""))
		if !isWorker {
			require.Empty(t, pcs, "%s: only worker subscriptions push", name)
			continue
		}
		require.Len(t, pcs, 1, "%s: push_config", name)
		_, hasEndpoint := pcs[0].body.Attributes["push_endpoint"] // unknown before apply (the project number)
		require.True(t, hasEndpoint, "%s: push_endpoint", name)
		toks := m.blocks(t, pcs[0], "oidc_token")
		require.Len(t, toks, 1, "%s: push_config.oidc_token", name)
		require.Equal(t, account, m.str(t, toks[0], "service_account_email"), "%s: the push account signs", name)
		aud := m.str(t, toks[0], "audience")
		require.NotEmpty(t, aud, "%s: oidc_token.audience", name)
		audiences[b] = aud
	}
	require.Len(t, audiences, len(names), "every backend's worker subscription pushes")
	seen := map[string]bool{}
	for _, a := range audiences {
		require.False(t, seen[a], "audience %q shared by two workers", a)
		seen[a] = true
	}

	for _, svc := range m.instancesOf(t, "google_cloud_run_v2_service") {
		m.checkPushWorker(t, svc, audiences, account)
	}

	invokers := m.instancesOf(t, "google_cloud_run_v2_service_iam_member")
	var pushInvokers int
	for _, in := range invokers {
		if v, ok := m.value(t, in, "member"); ok && v.IsKnown() && v.AsString() == "serviceAccount:"+account {
			require.Equal(t, "roles/run.invoker", m.str(t, in, "role"), in.addr)
			pushInvokers++
		}
	}
	require.Equal(t, len(names), pushInvokers, "the push account invokes each worker service")
	creators := m.instancesOf(t, "google_service_account_iam_member")
	require.Len(t, creators, 1)
	require.Equal(t, "roles/iam.serviceAccountTokenCreator", m.str(t, creators[0], "role"))
}

// checkPushWorker checks the push settings of a Cloud Run service: none but
// for a worker, which must verify the tokens of its subscription (audience
// of audiences, by backend, and account) and accept that audience.
func (m *tfModule) checkPushWorker(t *testing.T, svc tfInstance, audiences map[string]string, account string) {
	t.Helper()
	name := m.str(t, svc, "name")
	b, isWorker := strings.CutPrefix(name, "aiprod-worker-")
	env := m.containerEnv(t, svc)
	if !isWorker {
		require.NotContains(t, env, "AIPROD_PUSH", name)
		return
	}
	plain := func(n string) string {
		e, ok := env[n]
		require.True(t, ok && e.plain && e.value.IsKnown(), "%s: %s must be a known plain value", name, n)
		return e.value.AsString()
	}
	require.Equal(t, "true", plain("AIPROD_PUSH"), name)
	require.Equal(t, audiences[b], plain("AIPROD_PUSH_AUDIENCE"), "%s: the audience its subscription's tokens carry", name)
	require.Equal(t, account, plain("AIPROD_PUSH_SERVICE_ACCOUNT"), "%s: the account that signs its pushes", name)
	if _, ok := env["AIPROD_PUSH_AUTH"]; ok {
		require.NotEqual(t, "off", plain("AIPROD_PUSH_AUTH"), name)
	}
	ca, ok := m.value(t, svc, "custom_audiences")
	require.True(t, ok && ca.IsWhollyKnown() && ca.CanIterateElements(), "%s: custom_audiences", name)
	var custom []string
	for it := ca.ElementIterator(); it.Next(); {
		_, v := it.Element()
		custom = append(custom, v.AsString())
	}
	require.Contains(t, custom, audiences[b], "%s: Cloud Run must accept its push audience", name)
}

// TestInfraWorkersScaleWithTheWork (issue 14 item 7): by default every
// worker service scales on the pushes in flight, from zero: CPU only during
// requests, no minimum instance, its subscription's ack deadline
// worker.PushAckDeadline (Pub/Sub's maximum), AIPROD_STEP_BUDGET
// worker.PushStepBudget below it and Cloud Run's request timeout above it.
// The pushes one worker admits at once (max instances × requests per
// instance) are its backend's catalog concurrency plus the headroom,
// rounded up by less than one per instance, on the fewest instances of at
// most worker_requests_per_instance; more get Cloud Run's 429. The numbers
// are catalog.Default()'s: a catalog change the Terraform does not follow
// fails here. With worker_push = false the workers pull, with CPU always
// allocated and at least one instance, and the Topology's ack deadline.
func TestInfraWorkersScaleWithTheWork(t *testing.T) {
	t.Parallel()
	cat := catalog.Default()
	m := loadInfra(t)
	perInstance, headroom := varInt(t, m, "worker_requests_per_instance"), varInt(t, m, "worker_push_headroom")
	acks := subscriptionAckDeadlines(t, m)
	workers := 0
	for _, svc := range m.instancesOf(t, "google_cloud_run_v2_service") {
		name := m.str(t, svc, "name")
		bn, ok := strings.CutPrefix(name, "aiprod-worker-")
		if !ok {
			continue
		}
		workers++
		b := cat.Backend(bn)
		require.NotNil(t, b, name)
		got := m.workerShape(t, svc)
		ack := acks[queue.WorkerSubscription(bn)]
		require.Equal(t, worker.PushAckDeadline, ack, "%s: its subscription waits the longest a push may take", name)
		require.True(t, got.cpuIdle, "%s: CPU only during requests (all its work is inside a push)", name)
		require.Zero(t, got.min, "%s: scales to zero", name)
		require.Greater(t, got.timeout, ack, "%s: Cloud Run must not cut a push Pub/Sub still waits for", name)
		step, err := time.ParseDuration(got.env["AIPROD_STEP_BUDGET"])
		require.NoError(t, err, "%s: AIPROD_STEP_BUDGET", name)
		require.Equal(t, worker.PushStepBudget, step, "%s: AIPROD_STEP_BUDGET", name)
		require.Less(t, step, ack, name)

		if b.Concurrency == 0 { // no cap: worker_scaling.max instances
			require.Equal(t, varObjectInt(t, m, "worker_scaling", "max"), got.max, name)
			continue
		}
		need := b.Concurrency + headroom // generations holding a slot, and pushes waiting for one
		require.LessOrEqual(t, got.perInstance, perInstance, "%s: requests per instance", name)
		require.GreaterOrEqual(t, got.max*got.perInstance, need, "%s: admits its backend's concurrency %d plus %d", name, b.Concurrency, headroom)
		require.Less(t, got.max*got.perInstance-need, got.max, "%s: no more than the rounding beyond that", name)
		require.Equal(t, (need+perInstance-1)/perInstance, got.max, "%s: the fewest instances that hold it", name)
	}
	require.Equal(t, len(cat.Backends), workers)

	pull := loadInfraWith(t, map[string]cty.Value{"worker_push": cty.False})
	acks = subscriptionAckDeadlines(t, pull)
	for _, svc := range pull.instancesOf(t, "google_cloud_run_v2_service") {
		name := pull.str(t, svc, "name")
		bn, ok := strings.CutPrefix(name, "aiprod-worker-")
		if !ok {
			continue
		}
		got := pull.workerShape(t, svc)
		require.False(t, got.cpuIdle, "%s: a puller polls between requests", name)
		require.GreaterOrEqual(t, got.min, 1, "%s: a pull subscriber with no instance consumes nothing", name)
		require.NotContains(t, got.env, "AIPROD_STEP_BUDGET", name)
		require.Equal(t, queue.AckDeadlineDefault, acks[queue.WorkerSubscription(bn)], name)
	}
}

// workerShape is how a worker service scales, as the Terraform sets it.
type workerShape struct {
	min, max, perInstance int
	cpuIdle               bool
	timeout               time.Duration // 0: Cloud Run's default
	env                   map[string]string
}

func (m *tfModule) workerShape(t *testing.T, svc tfInstance) workerShape {
	t.Helper()
	tpls := m.blocks(t, svc, "template")
	require.Len(t, tpls, 1, svc.addr)
	tpl := tpls[0]
	w := workerShape{perInstance: 80, env: map[string]string{}} // Cloud Run's default concurrency
	if _, ok := m.value(t, tpl, "max_instance_request_concurrency"); ok {
		w.perInstance = int(m.integer(t, tpl, "max_instance_request_concurrency"))
	}
	if _, ok := m.value(t, tpl, "timeout"); ok {
		w.timeout = pubsubDuration(t, m.str(t, tpl, "timeout"))
	}
	sc := m.blocks(t, tpl, "scaling")
	require.Len(t, sc, 1, "%s: template.scaling", svc.addr)
	w.min, w.max = int(m.integer(t, sc[0], "min_instance_count")), int(m.integer(t, sc[0], "max_instance_count"))
	for _, c := range m.blocks(t, tpl, "containers") {
		for _, r := range m.blocks(t, c, "resources") {
			v, ok := m.value(t, r, "cpu_idle")
			w.cpuIdle = !ok || v.True() // Cloud Run's default: CPU only during requests
		}
	}
	for n, e := range m.containerEnv(t, svc) {
		if e.plain && e.value.IsKnown() && e.value.Type() == cty.String {
			w.env[n] = e.value.AsString()
		}
	}
	return w
}

// subscriptionAckDeadlines returns each subscription's ack deadline.
func subscriptionAckDeadlines(t *testing.T, m *tfModule) map[string]time.Duration {
	t.Helper()
	out := map[string]time.Duration{}
	for _, in := range m.instancesOf(t, "google_pubsub_subscription") {
		out[m.str(t, in, "name")] = time.Duration(m.integer(t, in, "ack_deadline_seconds")) * time.Second
	}
	return out
}

// varInt is the value of a number variable; varObjectInt, of a number
// attribute of an object variable.
func varInt(t *testing.T, m *tfModule, name string) int {
	t.Helper()
	return ctyInt(t, m.vars[name], "var."+name)
}

func varObjectInt(t *testing.T, m *tfModule, name, attr string) int {
	t.Helper()
	v := m.vars[name]
	require.True(t, v.IsKnown() && !v.IsNull() && v.Type().IsObjectType() && v.Type().HasAttribute(attr), "var.%s.%s", name, attr)
	return ctyInt(t, v.GetAttr(attr), "var."+name+"."+attr)
}

func ctyInt(t *testing.T, v cty.Value, what string) int {
	t.Helper()
	require.True(t, v.IsKnown() && !v.IsNull() && v.Type() == cty.Number, "%s must be a known number", what)
	i, acc := v.AsBigFloat().Int64()
	require.Zero(t, acc, "%s must be a whole number", what)
	return int(i)
}

// TestInfraIngestCannotDispatch (issue 13, finding 10): the internet-facing
// ingest service account publishes to aiprod-jobs, aiprod-events and
// aiprod-dlq-replay only, never to a dispatch topic (nor holds a
// project-wide Pub/Sub or editor role that would allow it); dead-letter
// replay is the router's, which may pull every dead-letter subscription and
// the replay requests, and publish to every source topic.
func TestInfraIngestCannotDispatch(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	member := func(svc string) string { return "serviceAccount:" + svc + "@PROJECT.iam.gserviceaccount.com" }
	ingest, router := member("aiprod-ingest"), member("aiprod-router")

	// member => topic (subscription) => roles
	topicRoles, subRoles := map[string]map[string][]string{}, map[string]map[string][]string{}
	add := func(roles map[string]map[string][]string, in tfInstance, ref string) {
		mv, ok := m.value(t, in, "member")
		require.True(t, ok, "%s: member", in.addr)
		if !mv.IsKnown() { // only Pub/Sub's service agent has a member unknown before apply (the project number)
			require.Contains(t, m.text(t, in, "member"), "pubsub_agent", "%s: member must be known", in.addr)
			return
		}
		rv, ok := m.value(t, in, ref)
		require.True(t, ok && rv.IsKnown(), "%s: %s must be known", in.addr, ref)
		name := rv.AsString()[strings.LastIndex(rv.AsString(), "/")+1:]
		if roles[mv.AsString()] == nil {
			roles[mv.AsString()] = map[string][]string{}
		}
		roles[mv.AsString()][name] = append(roles[mv.AsString()][name], m.str(t, in, "role"))
	}
	for _, typ := range []string{"google_pubsub_topic_iam_binding", "google_pubsub_topic_iam_policy",
		"google_pubsub_subscription_iam_binding", "google_pubsub_subscription_iam_policy"} {
		require.Empty(t, m.instancesOf(t, typ), "%s: grants are per member (google_*_iam_member), which this test reads", typ)
	}
	for _, in := range m.instancesOf(t, "google_pubsub_topic_iam_member") {
		add(topicRoles, in, "topic")
	}
	for _, in := range m.instancesOf(t, "google_pubsub_subscription_iam_member") {
		add(subRoles, in, "subscription")
	}

	published := func(who string) []string {
		var out []string
		for topic, rs := range topicRoles[who] {
			if slices.Contains(rs, "roles/pubsub.publisher") || slices.Contains(rs, "roles/pubsub.editor") || slices.Contains(rs, "roles/pubsub.admin") {
				out = append(out, topic)
			}
		}
		slices.Sort(out)
		return out
	}
	require.Equal(t, []string{queue.TopicDLQReplay, queue.TopicEvents, queue.TopicJobs}, published(ingest),
		"ingest publishes new jobs, events and replay requests, nothing else")
	for topic := range topicRoles[ingest] {
		require.False(t, strings.HasPrefix(topic, queue.DispatchTopic("")), "ingest has a role on topic %s", topic)
	}
	for _, in := range m.instancesOf(t, "google_project_iam_member") {
		if v, ok := m.value(t, in, "member"); ok && v.IsKnown() && v.AsString() == ingest {
			role := m.str(t, in, "role")
			require.False(t, strings.HasPrefix(role, "roles/pubsub.") || role == "roles/editor" || role == "roles/owner",
				"ingest holds %s on the project", role)
		}
	}

	var want []string
	for _, s := range queue.Topology(catalog.Default().Names()) {
		if s.DeadLetterTopic != "" {
			want = append(want, s.Topic) // the router republishes replays to every source topic
		}
	}
	slices.Sort(want)
	require.Subset(t, published(router), want, "the router replays to every source topic")
	for _, sub := range append(deadLetterSubscriptions(), queue.SubscriptionDLQReplay) {
		require.Contains(t, subRoles[router][sub], "roles/pubsub.subscriber", "the router pulls %s to replay", sub)
	}
}

// deadLetterSubscriptions are the dead-letter subscriptions of the
// catalog's topology.
func deadLetterSubscriptions() []string {
	var out []string
	for _, s := range queue.Topology(catalog.Default().Names()) {
		if s.DeadLetterTopic == "" {
			out = append(out, s.Name)
		}
	}
	return out
}

// TestInfraNotifier: the notifier runs as its own Cloud Run service (cmd/notifier)
// with AIPROD_SECRETS_KEY from Secret Manager, as does ingest (which seals
// rotated secrets); its service account pulls aiprod-notifier, publishes to
// aiprod-events (republished waiting events) and its dead-letter topic, and
// reads the secrets key, which only ingest and the notifier may read.
func TestInfraNotifier(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	envs := map[string]map[string]envVar{}
	for _, svc := range m.instancesOf(t, "google_cloud_run_v2_service") {
		envs[m.str(t, svc, "name")] = m.containerEnv(t, svc)
	}
	for _, name := range []string{"aiprod-notifier", "aiprod-ingest"} {
		require.Contains(t, envs, name)
		e, ok := envs[name][platform.SecretsKeyVar]
		require.True(t, ok && e.secret && !e.plain, "%s: %s must be a value_source.secret_key_ref", name, platform.SecretsKeyVar)
	}
	keys := func(typ string) []string {
		var out []string
		for _, in := range m.instancesOf(t, typ) {
			out = append(out, in.addr)
		}
		return out
	}
	require.Contains(t, keys("google_pubsub_subscription_iam_member"),
		`google_pubsub_subscription_iam_member.subscriber["notifier `+queue.SubscriptionEvents+`"]`)
	require.Contains(t, keys("google_pubsub_topic_iam_member"), `google_pubsub_topic_iam_member.publisher["notifier `+queue.TopicEvents+`"]`)
	require.Contains(t, keys("google_pubsub_topic_iam_member"), `google_pubsub_topic_iam_member.dead_letter_publisher["notifier `+queue.TopicEvents+`"]`)
	var readers []string
	for _, in := range m.instancesOf(t, "google_secret_manager_secret_iam_member") {
		if strings.HasPrefix(in.addr, "google_secret_manager_secret_iam_member.secrets_key[") {
			readers = append(readers, in.key)
		}
	}
	slices.Sort(readers)
	require.Equal(t, []string{"ingest", "notifier"}, readers, "who may read the secrets key")
}

// TestInfraBackendsMatchCatalog: the backends variable defaults to the
// catalog's backend names, backend_credentials to their credential
// variables, and backend_concurrency to their concurrency. The Terraform treats a backend without credentials as Veo on
// Vertex AI, which holds while only Veo backends have none.
func TestInfraBackendsMatchCatalog(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	cat := catalog.Default()

	backends := m.vars["backends"]
	require.True(t, backends.IsWhollyKnown() && !backends.IsNull(), "variable backends needs a default")
	var got []string
	for it := backends.ElementIterator(); it.Next(); {
		_, v := it.Element()
		got = append(got, v.AsString())
	}
	require.Equal(t, cat.Names(), got, "default of variable backends vs pkg/catalog/default.json")

	creds := m.vars["backend_credentials"]
	require.True(t, creds.IsWhollyKnown() && !creds.IsNull(), "variable backend_credentials needs a default")
	gotCreds := map[string]string{}
	for it := creds.ElementIterator(); it.Next(); {
		k, v := it.Element()
		gotCreds[k.AsString()] = v.AsString()
	}
	wantCreds := map[string]string{}
	for _, b := range cat.Backends {
		if b.CredentialEnv != "" {
			wantCreds[b.Name] = b.CredentialEnv
		} else {
			require.Equal(t, "veo", b.Provider, "backend %s has no credential_env: infra/ assumes that means Veo on Vertex AI", b.Name)
		}
	}
	require.Equal(t, wantCreds, gotCreds, "default of variable backend_credentials vs the catalog's credential_env")

	conc := m.vars["backend_concurrency"]
	require.True(t, conc.IsWhollyKnown() && !conc.IsNull(), "variable backend_concurrency needs a default")
	gotConc, wantConc := map[string]int{}, map[string]int{}
	for it := conc.ElementIterator(); it.Next(); {
		k, v := it.Element()
		gotConc[k.AsString()] = ctyInt(t, v, "backend_concurrency."+k.AsString())
	}
	for _, b := range cat.Backends {
		wantConc[b.Name] = b.Concurrency
	}
	require.Equal(t, wantConc, gotConc, "default of variable backend_concurrency vs the catalog's concurrency (it sizes the push workers)")
}

// ---- Monitoring: alert policies, SLOs, dashboard ------------------------------

// Google Cloud's own metrics that infra/ may query besides the code's
// instruments (metrics.Names), each with whether it is a distribution. Add a
// new one here after checking its name in
// https://cloud.google.com/monitoring/api/metrics_gcp.
const (
	pubsubOldestUnacked = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
	pubsubUndelivered   = "pubsub.googleapis.com/subscription/num_undelivered_messages"
	pubsubAcked         = "pubsub.googleapis.com/subscription/ack_message_count"
	runRequestCount     = "run.googleapis.com/request_count"
	runRequestLatencies = "run.googleapis.com/request_latencies"
)

var systemMetrics = map[string]bool{
	pubsubOldestUnacked: false,
	pubsubUndelivered:   false,
	pubsubAcked:         false,
	runRequestCount:     false,
	runRequestLatencies: true,
}

// histogramInstruments are the histograms of metrics.Names: Cloud Monitoring
// distributions, queried in PromQL as <name>_bucket, _count and _sum.
var histogramInstruments = []string{
	metrics.JobDuration, metrics.BackendRequestDuration, metrics.BackendGenerationDuration, metrics.HTTPServerRequestDuration,
}

// cmType is the Cloud Monitoring metric type of an instrument.
func cmType(instrument string) string { return metrics.CloudMonitoringType(instrument) }

var (
	// A Cloud Monitoring metric type in a filter: domain/path.
	monitoringTypeRE = regexp.MustCompile(`[a-z0-9.]+\.googleapis\.com/[A-Za-z0-9_./]+`)
	// A Cloud Monitoring metric in PromQL: domain_with_underscores:path.
	promQLMetricRE = regexp.MustCompile(`[a-z0-9_]+_googleapis_com:[A-Za-z0-9_]+`)
	nonPromQLRE    = regexp.MustCompile(`[^A-Za-z0-9_]`)
)

// promQLName is the PromQL name of a Cloud Monitoring metric type: the first
// "/" becomes ":" and every other character but letters, digits and "_"
// becomes "_" (https://cloud.google.com/monitoring/promql/promql-mapping).
func promQLName(typ string) string {
	domain, path, _ := strings.Cut(typ, "/")
	return nonPromQLRE.ReplaceAllString(domain, "_") + ":" + nonPromQLRE.ReplaceAllString(path, "_")
}

// metricCatalog is every metric infra/ may name: the instruments of
// metrics.Names as Cloud Monitoring types and systemMetrics.
type metricCatalog struct {
	types  map[string]bool   // Cloud Monitoring type => is a distribution
	promQL map[string]string // PromQL name (distributions: only with _bucket, _count, _sum) => type
}

func newMetricCatalog(t *testing.T) *metricCatalog {
	t.Helper()
	c := &metricCatalog{types: map[string]bool{}, promQL: map[string]string{}}
	for _, h := range histogramInstruments {
		require.Contains(t, metrics.Names, h, "histogramInstruments lists %s, which metrics.Names does not", h)
	}
	for _, n := range metrics.Names {
		c.types[cmType(n)] = slices.Contains(histogramInstruments, n)
	}
	for typ, dist := range systemMetrics {
		c.types[typ] = dist
	}
	for typ, dist := range c.types {
		p := promQLName(typ)
		if !dist {
			c.promQL[p] = typ
			continue
		}
		// PromQL reads a distribution only through these series.
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			c.promQL[p+suffix] = typ
		}
	}
	return c
}

// refs returns the metric types that a query or filter names, in either
// form. It fails on a name that is not in the catalog (a renamed or misspelt
// instrument, a counter with the Prometheus "_total", a histogram without its
// suffix, another domain such as custom.googleapis.com or
// prometheus.googleapis.com), on an instrument name without the Cloud
// Monitoring prefix, and on a text that names no metric at all.
func (c *metricCatalog) refs(t *testing.T, where, text string) []string {
	t.Helper()
	var out []string
	for _, typ := range monitoringTypeRE.FindAllString(text, -1) {
		_, ok := c.types[typ]
		require.True(t, ok, "%s: metric type %q is neither %s<a name of metrics.Names> nor one of systemMetrics:\n%s",
			where, typ, metrics.CloudMonitoringPrefix, text)
		out = append(out, typ)
	}
	for _, p := range promQLMetricRE.FindAllString(text, -1) {
		typ, ok := c.promQL[p]
		require.True(t, ok, "%s: PromQL metric %q is not the name of a metric of metrics.Names (as %s) or of systemMetrics "+
			"(counters have no _total; histograms need _bucket, _count or _sum, and only they take it):\n%s",
			where, p, strings.TrimSuffix(promQLName(metrics.CloudMonitoringPrefix+"x"), "x")+"<name>", text)
		out = append(out, typ)
	}
	rest := promQLMetricRE.ReplaceAllString(monitoringTypeRE.ReplaceAllString(text, " "), " ")
	for _, n := range metrics.Names {
		for _, bare := range []string{n, nonPromQLRE.ReplaceAllString(n, "_")} {
			require.NotContains(t, rest, bare, "%s: metric %s without its Cloud Monitoring prefix (%s, or %s in PromQL):\n%s",
				where, bare, cmType(n), promQLName(cmType(n)), text)
		}
	}
	require.NotEmpty(t, out, "%s names no metric this test knows:\n%s", where, text)
	slices.Sort(out)
	return slices.Compact(out)
}

type alertPolicy struct {
	tfInstance
	resource   string // the resource's name
	conditions []alertCondition
}

type alertCondition struct {
	addr     string
	promQL   string        // a condition_prometheus_query_language's query
	burnSLO  string        // or a select_slo_burn_rate condition's google_monitoring_slo (resource name)
	lookback time.Duration // and its lookback
	metrics  []string      // metric types the query names
}

var burnRateRE = regexp.MustCompile(`^select_slo_burn_rate\("\$\{google_monitoring_slo\.([A-Za-z0-9_-]+)\.(?:name|id)\}", ?"([0-9]+)s"\)$`)

// alertPolicies returns every google_monitoring_alert_policy instance with
// its conditions. Query language, one for all: PromQL conditions, except
// select_slo_burn_rate thresholds (which PromQL cannot express); no MQL, no
// other filter-based conditions.
func (m *tfModule) alertPolicies(t *testing.T, cat *metricCatalog) []alertPolicy {
	t.Helper()
	var out []alertPolicy
	for _, r := range m.resources {
		if r.Type != "google_monitoring_alert_policy" {
			continue
		}
		for _, in := range m.instances(t, r) {
			p := alertPolicy{tfInstance: in, resource: r.Name}
			conds := m.blocks(t, in, "conditions")
			require.NotEmpty(t, conds, "%s: no conditions", in.addr)
			require.LessOrEqual(t, len(conds), 6, "%s: at most 6 conditions per policy", in.addr)
			for _, c := range conds {
				var kinds []string
				for _, b := range c.body.Blocks {
					kinds = append(kinds, b.Type)
				}
				require.Len(t, kinds, 1, "%s: one condition kind per conditions block", c.addr)
				ac := alertCondition{addr: c.addr + "." + kinds[0]}
				switch kinds[0] {
				case "condition_prometheus_query_language":
					b := m.blocks(t, c, kinds[0])[0]
					ac.promQL = m.str(t, b, "query")
					ac.metrics = cat.refs(t, ac.addr+".query", ac.promQL)
				case "condition_threshold":
					b := m.blocks(t, c, kinds[0])[0]
					filter := m.text(t, b, "filter")
					sm := burnRateRE.FindStringSubmatch(filter)
					require.NotNil(t, sm, "%s: filter %q: threshold conditions are only for SLO burn rates "+
						"(select_slo_burn_rate(\"${google_monitoring_slo.<name>.name}\", \"<seconds>s\")); write the others in PromQL", ac.addr, filter)
					_, denom := b.body.Attributes["denominator_filter"]
					require.False(t, denom, "%s: denominator_filter", ac.addr)
					secs, err := strconv.Atoi(sm[2])
					require.NoError(t, err)
					ac.burnSLO, ac.lookback = sm[1], time.Duration(secs)*time.Second
					require.LessOrEqual(t, ac.lookback, 24*time.Hour, "%s: select_slo_burn_rate lookback over 24 h", ac.addr)
					require.Greater(t, m.float(t, b, "threshold_value"), 1.0, "%s: a burn rate threshold at or below 1 fires while the SLO is met", ac.addr)
					require.Equal(t, "COMPARISON_GT", m.str(t, b, "comparison"), ac.addr)
				default:
					t.Fatalf("%s: %s: the alert policies use PromQL (condition_prometheus_query_language), "+
						"and condition_threshold only for select_slo_burn_rate", c.addr, kinds[0])
				}
				p.conditions = append(p.conditions, ac)
			}
			out = append(out, p)
		}
	}
	return out
}

// TestInfraMonitoringMetricNames: every metric that an alert policy, an SLO
// or the dashboard queries is an instrument of metrics.Names under its Cloud
// Monitoring type (metrics.CloudMonitoringType; in PromQL its mapped name,
// with _bucket/_count/_sum for histograms only, no _total for counters), or
// one of the Google Cloud metrics of systemMetrics.
func TestInfraMonitoringMetricNames(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	cat := newMetricCatalog(t)

	used := map[string]bool{}
	policies := m.alertPolicies(t, cat) // checks every condition's query
	require.NotEmpty(t, policies)
	for _, p := range policies {
		for _, c := range p.conditions {
			for _, typ := range c.metrics {
				used[typ] = true
			}
		}
	}
	for _, slo := range m.instancesOf(t, "google_monitoring_slo") {
		for _, f := range m.filters(t, slo) {
			for _, typ := range cat.refs(t, f.where, f.text) {
				used[typ] = true
			}
		}
	}
	for _, w := range m.dashboardWidgets(t) {
		for _, q := range w.queries {
			for _, typ := range cat.refs(t, w.where, q) {
				used[typ] = true
			}
		}
	}
	for typ := range systemMetrics {
		require.True(t, used[typ], "systemMetrics lists %s, which nothing queries: remove it", typ)
	}
}

// TestInfraAlertPolicies: the alert policies of issue 11 exist and query what
// they are about; every alert policy notifies local.notification_channels
// (var.notification_channels and the channels created from the variables),
// has a severity, and documents itself with a link to its runbook section
// in infra/README.md ("## Runbook", one "###" section per alert), which must
// exist; every runbook section is linked by an alert.
func TestInfraAlertPolicies(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	policies := m.alertPolicies(t, newMetricCatalog(t))

	budget := []string{cmType(metrics.BudgetSpent), cmType(metrics.BudgetReserved), cmType(metrics.BudgetLimit)}
	want := map[string][]string{ // resource name => metrics its conditions must query
		"job_failure_ratio":         {cmType(metrics.JobsCompleted)},
		"backend_circuit_open":      {cmType(metrics.BackendCircuitState)},
		"backend_circuits_all_open": {cmType(metrics.BackendCircuitState)},
		"budget_warning":            budget,
		"budget_exhausted":          budget,
		"pubsub_backlog":            {pubsubOldestUnacked},
		"dead_letters":              {pubsubUndelivered},
		"metrics_absent":            {cmType(metrics.JobsAccepted), runRequestCount},
	}
	queried := map[string][]string{}
	for _, p := range policies {
		for _, c := range p.conditions {
			queried[p.resource] = append(queried[p.resource], c.metrics...)
		}
	}
	for name, typs := range want {
		require.Contains(t, queried, name, "google_monitoring_alert_policy.%s is missing", name)
		for _, typ := range typs {
			require.Contains(t, queried[name], typ, "google_monitoring_alert_policy.%s does not query %s", name, typ)
		}
	}

	// Notification channels: every policy gets local.notification_channels,
	// which holds the variable and every channel created.
	channels, ok := m.localExprs["notification_channels"]
	require.True(t, ok, "local.notification_channels is missing")
	refs := map[string]bool{}
	for _, tr := range hclsyntax.Variables(channels) {
		refs[traversalString(tr[:min(len(tr), 2)])] = true
	}
	require.True(t, refs["var.notification_channels"], "local.notification_channels must include var.notification_channels")
	for _, r := range m.resources {
		if r.Type == "google_monitoring_notification_channel" {
			require.True(t, refs[r.addr()], "local.notification_channels must include %s", r.addr())
		}
	}

	sections := runbookSections(t)
	require.NotEmpty(t, sections, "infra/README.md has no \"## Runbook\" section with \"###\" sections")
	linked := map[string]bool{}
	for _, p := range policies {
		a, ok := p.body.Attributes["notification_channels"]
		require.True(t, ok, "%s: notification_channels is missing", p.addr)
		require.Equal(t, "local.notification_channels", exprTraversal(a.Expr), "%s: notification_channels", p.addr)

		require.Contains(t, []string{"CRITICAL", "ERROR", "WARNING"}, m.str(t, p.tfInstance, "severity"), "%s: severity", p.addr)

		docs := m.blocks(t, p.tfInstance, "documentation")
		require.Len(t, docs, 1, "%s: documentation", p.addr)
		require.Equal(t, "text/markdown", m.str(t, docs[0], "mime_type"), "%s: documentation.mime_type", p.addr)
		content := m.str(t, docs[0], "content")
		anchors := runbookLinkRE.FindAllStringSubmatch(content, -1)
		require.NotEmpty(t, anchors, "%s: documentation.content links no runbook section (README.md#<section>):\n%s", p.addr, content)
		for _, l := range m.blocks(t, docs[0], "links") {
			url := m.str(t, l, "url")
			a := runbookLinkRE.FindAllStringSubmatch(url, -1)
			require.Len(t, a, 1, "%s: documentation.links url %q is not a runbook section", p.addr, url)
			anchors = append(anchors, a...)
		}
		for _, a := range anchors {
			require.True(t, sections[a[1]], "%s links README.md#%s: no such section under \"## Runbook\" in infra/README.md (sections: %v)",
				p.addr, a[1], slices.Sorted(maps.Keys(sections)))
			linked[a[1]] = true
		}
	}
	for s := range sections {
		require.True(t, linked[s], "infra/README.md runbook section #%s: no alert policy links it", s)
	}
}

// TestInfraAlertSubscriptionsMatchTopology: the backlog alert covers exactly
// the source subscriptions of queue.Topology but the notifier's (whose
// events wait there for webhook retries, up to 24 h), the dead-letter alert
// exactly its dead-letter subscriptions, and the dashboard's backlog and
// dead-letter charts the same. Each selector lists the subscriptions by name.
func TestInfraAlertSubscriptionsMatchTopology(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	var wantBacklog, wantDeadLetters []string
	for _, s := range queue.Topology(catalog.Default().Names()) {
		switch {
		case s.DeadLetterTopic == "":
			wantDeadLetters = append(wantDeadLetters, s.Name)
		case s.Name != queue.SubscriptionEvents: // waiting webhook retries (monitoring.tf)
			wantBacklog = append(wantBacklog, s.Name)
		}
	}
	slices.Sort(wantBacklog)
	slices.Sort(wantDeadLetters)

	var alertBacklog, alertDeadLetters, chartBacklog, chartDeadLetters []string
	for _, p := range m.alertPolicies(t, newMetricCatalog(t)) {
		for _, c := range p.conditions {
			alertBacklog = append(alertBacklog, subscriptionsOf(t, c.addr, c.promQL, pubsubOldestUnacked)...)
			alertDeadLetters = append(alertDeadLetters, subscriptionsOf(t, c.addr, c.promQL, pubsubUndelivered)...)
		}
	}
	for _, w := range m.dashboardWidgets(t) {
		for _, q := range w.queries {
			chartBacklog = append(chartBacklog, subscriptionsOf(t, w.where, q, pubsubOldestUnacked)...)
			chartDeadLetters = append(chartDeadLetters, subscriptionsOf(t, w.where, q, pubsubUndelivered)...)
		}
	}
	set := func(s []string) []string { slices.Sort(s); return slices.Compact(s) }
	require.Equal(t, wantBacklog, set(alertBacklog), "subscriptions of the %s alert vs queue.Topology (consumed subscriptions)", pubsubOldestUnacked)
	require.Equal(t, wantDeadLetters, set(alertDeadLetters), "subscriptions of the %s alert vs queue.Topology (dead-letter subscriptions)", pubsubUndelivered)
	require.Equal(t, wantBacklog, set(chartBacklog), "subscriptions of the dashboard's backlog chart vs queue.Topology")
	require.Equal(t, wantDeadLetters, set(chartDeadLetters), "subscriptions of the dashboard's dead-letter chart vs queue.Topology")
}

// TestInfraSLOs: the two SLOs of issue 11 on the custom service, over a
// rolling 28 days: job success (99%, request-based on aiprod_jobs_completed,
// good = succeeded) and API latency (95% of ingest requests within 200 ms, a
// distribution cut). Each has a fast-burn alert (longest lookback at most
// 1 h) and a slow-burn one (longest lookback at least 6 h).
func TestInfraSLOs(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	cat := newMetricCatalog(t)

	var jobSLO, latencySLO string
	for _, r := range m.resources {
		if r.Type != "google_monitoring_slo" {
			continue
		}
		ins := m.instances(t, r)
		require.Len(t, ins, 1, "%s: one SLO per resource (burn-rate alerts refer to it by name)", r.addr())
		in := ins[0]
		svc, ok := in.body.Attributes["service"]
		require.True(t, ok, "%s: service", in.addr)
		require.True(t, strings.HasPrefix(exprTraversal(svc.Expr), "google_monitoring_custom_service."), "%s: service must be a google_monitoring_custom_service", in.addr)
		require.EqualValues(t, 28, m.integer(t, in, "rolling_period_days"), "%s: rolling_period_days", in.addr)
		goal := m.float(t, in, "goal")

		rb := m.blocks(t, in, "request_based_sli")
		require.Len(t, rb, 1, "%s: a request_based_sli", in.addr)
		if gtr := m.blocks(t, rb[0], "good_total_ratio"); len(gtr) == 1 {
			var n int
			for _, a := range []string{"good_service_filter", "bad_service_filter", "total_service_filter"} {
				if _, ok := gtr[0].body.Attributes[a]; !ok {
					continue
				}
				n++
				f := m.text(t, gtr[0], a)
				require.Equal(t, []string{cmType(metrics.JobsCompleted)}, cat.refs(t, gtr[0].addr+"."+a, f), "%s.%s", gtr[0].addr, a)
				if a == "good_service_filter" {
					require.Contains(t, f, `metric.labels.status="succeeded"`, "%s: good jobs are the succeeded ones", gtr[0].addr)
				}
			}
			require.Equal(t, 2, n, "%s: exactly two of good, bad and total service filters", gtr[0].addr)
			require.InDelta(t, 0.99, goal, 1e-9, "%s: goal", in.addr)
			require.Empty(t, jobSLO, "two job success SLOs")
			jobSLO = r.Name
			continue
		}
		dc := m.blocks(t, rb[0], "distribution_cut")
		require.Len(t, dc, 1, "%s: good_total_ratio or distribution_cut", in.addr)
		typs := cat.refs(t, dc[0].addr, m.text(t, dc[0], "distribution_filter"))
		require.Len(t, typs, 1, dc[0].addr)
		rng := m.blocks(t, dc[0], "range")
		require.Len(t, rng, 1, "%s: range", dc[0].addr)
		switch typs[0] {
		case runRequestLatencies: // milliseconds
			require.InDelta(t, 200, m.float(t, rng[0], "max"), 1e-9, "%s: range.max (ms)", rng[0].addr)
			require.Contains(t, m.text(t, dc[0], "distribution_filter"), `resource.labels.service_name="aiprod-ingest"`, "%s: the ingest service's latency", dc[0].addr)
		case cmType(metrics.HTTPServerRequestDuration): // seconds
			require.InDelta(t, 0.2, m.float(t, rng[0], "max"), 1e-9, "%s: range.max (s)", rng[0].addr)
		default:
			t.Fatalf("%s: the latency SLO measures %s, not API latency", dc[0].addr, typs[0])
		}
		require.InDelta(t, 0.95, goal, 1e-9, "%s: goal (p95)", in.addr)
		require.Empty(t, latencySLO, "two latency SLOs")
		latencySLO = r.Name
	}
	require.NotEmpty(t, jobSLO, "no job success SLO")
	require.NotEmpty(t, latencySLO, "no API latency SLO")

	policies := m.alertPolicies(t, cat)
	for _, slo := range []string{jobSLO, latencySLO} {
		var fast, slow bool
		for _, p := range policies {
			var longest time.Duration
			for _, c := range p.conditions {
				if c.burnSLO == slo {
					longest = max(longest, c.lookback)
				}
			}
			if longest == 0 {
				continue
			}
			if len(p.conditions) > 1 {
				require.Equal(t, "AND", m.str(t, p.tfInstance, "combiner"), "%s: a multi-window burn-rate alert fires when every window burns", p.addr)
			}
			fast = fast || longest <= time.Hour
			slow = slow || longest >= 6*time.Hour
		}
		require.True(t, fast, "google_monitoring_slo.%s has no fast-burn alert (select_slo_burn_rate lookback <= 1 h)", slo)
		require.True(t, slow, "google_monitoring_slo.%s has no slow-burn alert (select_slo_burn_rate lookback >= 6 h)", slo)
	}
}

// TestInfraDashboard: the dashboard exists, its JSON parses, every widget
// has a title and queries, and its charts show jobs by status, cost by
// backend, job latency, circuits, the backlog and dead letters.
func TestInfraDashboard(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	cat := newMetricCatalog(t)
	widgets := m.dashboardWidgets(t)
	require.NotEmpty(t, widgets)
	shown := map[string]bool{}
	for _, w := range widgets {
		require.NotEmpty(t, w.title, "%s: title", w.where)
		require.NotEmpty(t, w.queries, "%s (%s): no query", w.where, w.title)
		for _, q := range w.queries {
			for _, typ := range cat.refs(t, w.where, q) {
				shown[typ] = true
			}
		}
	}
	for _, typ := range []string{
		cmType(metrics.JobsCompleted),       // jobs by status
		cmType(metrics.Cost),                // cost by backend
		cmType(metrics.JobDuration),         // job latency
		cmType(metrics.BackendCircuitState), // circuits
		pubsubOldestUnacked,                 // backlog
		pubsubUndelivered,                   // dead letters
	} {
		require.True(t, shown[typ], "no dashboard chart shows %s", typ)
	}
}

type dashboardWidget struct {
	where, title string
	queries      []string // PromQL queries and monitoring filters
}

// dashboardWidgets returns the widgets of the google_monitoring_dashboard
// (exactly one), with their queries.
func (m *tfModule) dashboardWidgets(t *testing.T) []dashboardWidget {
	t.Helper()
	ds := m.instancesOf(t, "google_monitoring_dashboard")
	require.Len(t, ds, 1, "google_monitoring_dashboard")
	js := m.str(t, ds[0], "dashboard_json")
	var d struct {
		DisplayName  string `json:"displayName"`
		MosaicLayout struct {
			Columns int `json:"columns"`
			Tiles   []struct {
				XPos, Width int
				Widget      map[string]any `json:"widget"`
			} `json:"tiles"`
		} `json:"mosaicLayout"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &d), "%s.dashboard_json", ds[0].addr)
	require.NotEmpty(t, d.DisplayName, "%s: displayName", ds[0].addr)
	require.NotEmpty(t, d.MosaicLayout.Tiles, "%s: mosaicLayout.tiles", ds[0].addr)
	var out []dashboardWidget
	for i, tile := range d.MosaicLayout.Tiles {
		where := fmt.Sprintf("%s tile %d", ds[0].addr, i)
		require.LessOrEqual(t, tile.XPos+tile.Width, d.MosaicLayout.Columns, "%s: wider than the grid", where)
		w := dashboardWidget{where: where}
		w.title, _ = tile.Widget["title"].(string)
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, e := range v {
					if s, ok := e.(string); ok && (k == "prometheusQuery" || k == "timeSeriesQueryLanguage" || strings.HasSuffix(strings.ToLower(k), "filter")) {
						w.queries = append(w.queries, s)
					}
					walk(e)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			}
		}
		walk(tile.Widget)
		out = append(out, w)
	}
	return out
}

type monitoringText struct{ where, text string }

// filters returns the text of every attribute of in (and of its nested
// blocks) whose name ends in "filter".
func (m *tfModule) filters(t *testing.T, in tfInstance) []monitoringText {
	t.Helper()
	var out []monitoringText
	for n := range in.body.Attributes {
		if strings.HasSuffix(n, "filter") {
			out = append(out, monitoringText{where: in.addr + "." + n, text: m.text(t, in, n)})
		}
	}
	for _, b := range in.body.Blocks {
		if b.Type != "lifecycle" && b.Type != "dynamic" {
			for _, nb := range m.blocks(t, in, b.Type) {
				out = append(out, m.filters(t, nb)...)
			}
		}
	}
	return out
}

var matcherRE = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)

// subscriptionsOf returns the subscriptions whose series of the Cloud
// Monitoring metric typ a PromQL query selects. Every selector of the metric
// must list them: subscription_id="name" or subscription_id=~"name|name|...".
func subscriptionsOf(t *testing.T, where, query, typ string) []string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(promQLName(typ)) + `(\{[^}]*\}|[^A-Za-z0-9_{]|$)`)
	var out []string
	for _, sel := range re.FindAllStringSubmatch(query, -1) {
		require.True(t, strings.HasPrefix(sel[1], "{"), "%s: %s without a subscription_id matcher selects every subscription of the project:\n%s", where, promQLName(typ), query)
		found := false
		for _, mt := range matcherRE.FindAllStringSubmatch(sel[1], -1) {
			if mt[1] != "subscription_id" {
				continue
			}
			require.False(t, found, "%s: two subscription_id matchers", where)
			found = true
			var names []string
			switch mt[2] {
			case "=":
				names = []string{mt[3]}
			case "=~":
				names = strings.Split(mt[3], "|")
			default:
				t.Fatalf("%s: subscription_id%s: list the subscriptions with = or =~ \"a|b\"", where, mt[2])
			}
			for _, n := range names {
				require.Regexp(t, `^[a-z][a-z0-9-]*$`, n, "%s: subscription_id=~%q must list names, not patterns", where, mt[3])
			}
			out = append(out, names...)
		}
		require.True(t, found, "%s: %s%s has no subscription_id matcher", where, promQLName(typ), sel[1])
	}
	return out
}

var runbookLinkRE = regexp.MustCompile(`README\.md#([A-Za-z0-9_-]+)`)

// runbookSections returns the anchors of the "###" sections under the
// "## Runbook" section of infra/README.md.
func runbookSections(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(infraDir, "README.md"))
	require.NoError(t, err)
	out := map[string]bool{}
	in, fence := false, false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			fence = !fence
		case fence:
		case strings.HasPrefix(line, "## "):
			in = strings.TrimSpace(line[3:]) == "Runbook"
		case in && strings.HasPrefix(line, "### "):
			a := githubAnchor(line[4:])
			require.NotContains(t, out, a, "infra/README.md: two runbook sections #%s", a)
			out[a] = true
		}
	}
	return out
}

// githubAnchor is the fragment GitHub gives a Markdown heading: lower case,
// punctuation dropped, spaces as "-".
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ---- A small evaluator of the subset of Terraform that infra/ uses ---------

// modeledTypes are the resource types whose instances carry values that
// other expressions can use, computed from one attribute of theirs; every
// other resource is unknown, as before apply. PROJECT stands for the
// project.
var modeledTypes = map[string]modeledType{
	"google_pubsub_topic": {key: "name", attrs: func(name string) map[string]string {
		return map[string]string{"name": name, "id": "projects/PROJECT/topics/" + name}
	}},
	"google_pubsub_subscription": {key: "name", attrs: func(name string) map[string]string {
		return map[string]string{"name": name, "id": "projects/PROJECT/subscriptions/" + name}
	}},
	"google_service_account": {key: "account_id", attrs: func(id string) map[string]string {
		email := id + "@PROJECT.iam.gserviceaccount.com"
		return map[string]string{"account_id": id, "email": email, "member": "serviceAccount:" + email,
			"name": "projects/PROJECT/serviceAccounts/" + email, "id": "projects/PROJECT/serviceAccounts/" + email}
	}},
}

// modeledType is how the instances of a modeled resource type get values:
// attrs of the value of their attribute key.
type modeledType struct {
	key   string
	attrs func(string) map[string]string
}

type tfModule struct {
	vars       map[string]cty.Value
	locals     map[string]cty.Value
	localExprs map[string]hclsyntax.Expression
	resources  []*tfResource
	others     []*hclsyntax.Block // data and output blocks
	types      map[string]bool    // resource types declared
	modeled    map[string]map[string]cty.Value
}

type tfResource struct {
	Type, Name string
	body       *hclsyntax.Body
}

func (r *tfResource) addr() string { return r.Type + "." + r.Name }

// tfInstance is one instance of a resource (one for_each key), or a nested
// block of one, with its evaluation context (each, dynamic iterators).
type tfInstance struct {
	addr string
	key  string // the for_each key
	body *hclsyntax.Body
	ctx  *hcl.EvalContext
}

// loadInfra parses infra/*.tf and evaluates the variables' defaults, the
// locals and the modeled resources.
func loadInfra(t *testing.T) *tfModule {
	t.Helper()
	return loadInfraWith(t, nil)
}

// loadInfraWith is loadInfra with the variables of vars set to their values
// instead of their defaults (as in a terraform.tfvars).
func loadInfraWith(t *testing.T, vars map[string]cty.Value) *tfModule {
	t.Helper()
	m := &tfModule{vars: map[string]cty.Value{}, locals: map[string]cty.Value{}, localExprs: map[string]hclsyntax.Expression{},
		types: map[string]bool{}, modeled: map[string]map[string]cty.Value{}}
	m.evaluate(t, m.parse(t, vars))
	return m
}

// parse reads infra/*.tf into m: the variables (their defaults, or their
// values in vars), resources and other blocks; it returns the locals'
// expressions.
func (m *tfModule) parse(t *testing.T, vars map[string]cty.Value) map[string]hclsyntax.Expression {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(infraDir, "*.tf"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no Terraform files in %s", infraDir)
	sort.Strings(files)
	pendingLocals := map[string]hclsyntax.Expression{}
	p := hclparse.NewParser()
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		require.False(t, diags.HasErrors(), "parse %s: %s", f, diags.Error())
		for _, b := range file.Body.(*hclsyntax.Body).Blocks {
			switch b.Type {
			case "variable":
				m.vars[b.Labels[0]] = variableDefault(t, b)
				if v, ok := vars[b.Labels[0]]; ok {
					m.vars[b.Labels[0]] = v
				}
			case "locals":
				for n, a := range b.Body.Attributes {
					require.NotContains(t, pendingLocals, n, "local.%s defined twice", n)
					pendingLocals[n] = a.Expr
					m.localExprs[n] = a.Expr
				}
			case "resource":
				r := &tfResource{Type: b.Labels[0], Name: b.Labels[1], body: b.Body}
				_, hasCount := b.Body.Attributes["count"]
				require.False(t, hasCount, "%s: count is not supported by this test; use for_each", r.addr())
				m.resources = append(m.resources, r)
				m.types[r.Type] = true
			case "data", "output":
				m.others = append(m.others, b)
			case "terraform", "provider":
			default:
				t.Fatalf("%s: block %q is not supported by this test", f, b.Type)
			}
		}
	}
	return pendingLocals
}

// evaluate evaluates the locals and the modeled resources in dependency
// order.
func (m *tfModule) evaluate(t *testing.T, pendingLocals map[string]hclsyntax.Expression) {
	t.Helper()
	pendingRes := map[string]*tfResource{}
	for _, r := range m.resources {
		if _, ok := modeledTypes[r.Type]; ok {
			pendingRes[r.addr()] = r
		}
	}
	for progress := true; progress; {
		progress = false
		for n, e := range pendingLocals {
			if !m.ready(e, pendingLocals, pendingRes) {
				continue
			}
			v, diags := e.Value(m.ctx(nil))
			require.False(t, diags.HasErrors(), "local.%s: %s", n, diags.Error())
			m.locals[n] = v
			delete(pendingLocals, n)
			progress = true
		}
		for a, r := range pendingRes {
			mt := modeledTypes[r.Type]
			if !m.ready(attrExpr(r.body, "for_each"), pendingLocals, pendingRes) ||
				!m.ready(attrExpr(r.body, mt.key), pendingLocals, pendingRes) {
				continue
			}
			insts := map[string]cty.Value{}
			for _, in := range m.instances(t, r) {
				attrs := map[string]cty.Value{}
				for k, v := range mt.attrs(m.str(t, in, mt.key)) {
					attrs[k] = cty.StringVal(v)
				}
				insts[in.key] = cty.ObjectVal(attrs)
			}
			v := objectOrEmpty(insts)
			if _, ok := r.body.Attributes["for_each"]; !ok {
				v = insts[""]
			}
			if m.modeled[r.Type] == nil {
				m.modeled[r.Type] = map[string]cty.Value{}
			}
			m.modeled[r.Type][r.Name] = v
			delete(pendingRes, a)
			progress = true
		}
	}
	var stuck []string
	for n := range pendingLocals {
		stuck = append(stuck, "local."+n)
	}
	for a := range pendingRes {
		stuck = append(stuck, a)
	}
	sort.Strings(stuck)
	require.Empty(t, stuck, "cannot evaluate (a reference cycle or an undefined local)")
}

// variableDefault returns a variable's default converted to its type, or an
// unknown value when it has none.
func variableDefault(t *testing.T, b *hclsyntax.Block) cty.Value {
	t.Helper()
	ty := cty.DynamicPseudoType
	if a, ok := b.Body.Attributes["type"]; ok {
		var diags hcl.Diagnostics
		ty, diags = typeexpr.TypeConstraint(a.Expr)
		require.False(t, diags.HasErrors(), "variable %s type: %s", b.Labels[0], diags.Error())
	}
	a, ok := b.Body.Attributes["default"]
	if !ok {
		return cty.UnknownVal(ty)
	}
	v, diags := a.Expr.Value(nil)
	require.False(t, diags.HasErrors(), "variable %s default: %s", b.Labels[0], diags.Error())
	v, err := convert.Convert(v, ty)
	require.NoError(t, err, "variable %s default does not have its type", b.Labels[0])
	return v
}

func attrExpr(body *hclsyntax.Body, name string) hclsyntax.Expression {
	if a, ok := body.Attributes[name]; ok {
		return a.Expr
	}
	return nil
}

// ready reports whether every local and modeled resource e refers to has a
// value already (a nil e is ready).
func (m *tfModule) ready(e hclsyntax.Expression, pendingLocals map[string]hclsyntax.Expression, pendingRes map[string]*tfResource) bool {
	if e == nil {
		return true
	}
	for _, tr := range hclsyntax.Variables(e) {
		if len(tr) < 2 {
			continue
		}
		step, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			continue
		}
		switch root := tr.RootName(); {
		case root == "local":
			if _, pending := pendingLocals[step.Name]; pending {
				return false
			}
		case modeledTypes[root].attrs != nil:
			if _, pending := pendingRes[root+"."+step.Name]; pending {
				return false
			}
		}
	}
	return true
}

// ctx returns the evaluation context of the module, with each bound when
// not nil.
func (m *tfModule) ctx(each *cty.Value) *hcl.EvalContext {
	v := map[string]cty.Value{
		"var":   objectOrEmpty(m.vars),
		"local": objectOrEmpty(m.locals),
		"path":  cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(infraDir), "root": cty.StringVal(infraDir), "cwd": cty.StringVal(".")}),
		"data":  cty.DynamicVal,
	}
	for typ := range m.types {
		if _, ok := modeledTypes[typ]; !ok {
			v[typ] = cty.DynamicVal // known after apply
		}
	}
	for typ, names := range m.modeled {
		v[typ] = objectOrEmpty(names)
	}
	if each != nil {
		v["each"] = *each
	}
	return &hcl.EvalContext{Variables: v, Functions: tfFunctions}
}

// instancesOf returns the instances of every resource of type typ.
func (m *tfModule) instancesOf(t *testing.T, typ string) []tfInstance {
	t.Helper()
	var out []tfInstance
	for _, r := range m.resources {
		if r.Type == typ {
			out = append(out, m.instances(t, r)...)
		}
	}
	return out
}

// instances expands r's for_each. A for_each over other resources' instances
// is unknown here, as it is before apply: r then gets one instance whose
// each is unknown.
func (m *tfModule) instances(t *testing.T, r *tfResource) []tfInstance {
	t.Helper()
	fe, ok := r.body.Attributes["for_each"]
	if !ok {
		return []tfInstance{{addr: r.addr(), body: r.body, ctx: m.ctx(nil)}}
	}
	v, diags := fe.Expr.Value(m.ctx(nil))
	require.False(t, diags.HasErrors(), "%s.for_each: %s", r.addr(), diags.Error())
	if !v.IsWhollyKnown() {
		each := cty.DynamicVal
		return []tfInstance{{addr: r.addr() + "[*]", key: "*", body: r.body, ctx: m.ctx(&each)}}
	}
	ty := v.Type()
	require.True(t, ty.IsMapType() || ty.IsObjectType() || (ty.IsSetType() && ty.ElementType() == cty.String),
		"%s.for_each must be a map or a set of strings, not %s", r.addr(), ty.FriendlyName())
	var out []tfInstance
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		each := cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})
		out = append(out, tfInstance{addr: fmt.Sprintf("%s[%q]", r.addr(), k.AsString()), key: k.AsString(), body: r.body, ctx: m.ctx(&each)})
	}
	return out
}

// blocks returns the nested blocks of type typ in parent, static ones and
// those of dynamic "typ" blocks, each with its evaluation context.
func (m *tfModule) blocks(t *testing.T, parent tfInstance, typ string) []tfInstance {
	t.Helper()
	var out []tfInstance
	for _, b := range parent.body.Blocks {
		switch {
		case b.Type == typ:
			out = append(out, tfInstance{addr: parent.addr + "." + typ, key: parent.key, body: b.Body, ctx: parent.ctx})
		case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == typ:
			out = append(out, m.expandDynamic(t, parent, b)...)
		}
	}
	return out
}

func (m *tfModule) expandDynamic(t *testing.T, parent tfInstance, b *hclsyntax.Block) []tfInstance {
	t.Helper()
	typ := b.Labels[0]
	addr := parent.addr + ".dynamic." + typ
	iter := typ
	if a, ok := b.Body.Attributes["iterator"]; ok {
		iter = hcl.ExprAsKeyword(a.Expr)
	}
	var content *hclsyntax.Body
	for _, c := range b.Body.Blocks {
		if c.Type == "content" {
			content = c.Body
		}
	}
	require.NotNil(t, content, "%s without content", addr)
	fe, ok := b.Body.Attributes["for_each"]
	require.True(t, ok, "%s without for_each", addr)
	v, diags := fe.Expr.Value(parent.ctx)
	require.False(t, diags.HasErrors(), "%s.for_each: %s", addr, diags.Error())
	bind := func(key, val cty.Value) tfInstance {
		c := parent.ctx.NewChild()
		c.Variables = map[string]cty.Value{iter: cty.ObjectVal(map[string]cty.Value{"key": key, "value": val})}
		return tfInstance{addr: addr, key: parent.key, body: content, ctx: c}
	}
	if !v.IsKnown() {
		return []tfInstance{bind(cty.DynamicVal, cty.DynamicVal)}
	}
	require.True(t, v.CanIterateElements(), "%s.for_each is a %s", addr, v.Type().FriendlyName())
	var out []tfInstance
	for it := v.ElementIterator(); it.Next(); {
		out = append(out, bind(it.Element()))
	}
	return out
}

// evalAll evaluates every attribute of in and of its nested blocks
// (meta-arguments aside), failing on any error.
func (m *tfModule) evalAll(t *testing.T, in tfInstance) {
	t.Helper()
	for n, a := range in.body.Attributes {
		if n == "depends_on" || n == "for_each" {
			continue
		}
		_, diags := a.Expr.Value(in.ctx)
		require.False(t, diags.HasErrors(), "%s.%s: %s", in.addr, n, diags.Error())
	}
	for _, b := range in.body.Blocks {
		switch b.Type {
		case "lifecycle", "provisioner", "connection":
		case "dynamic":
			for _, d := range m.expandDynamic(t, in, b) {
				m.evalAll(t, d)
			}
		default:
			m.evalAll(t, tfInstance{addr: in.addr + "." + b.Type, key: in.key, body: b.Body, ctx: in.ctx})
		}
	}
}

// value evaluates attribute name of in; false when absent or null.
func (m *tfModule) value(t *testing.T, in tfInstance, name string) (cty.Value, bool) {
	t.Helper()
	a, ok := in.body.Attributes[name]
	if !ok {
		return cty.NilVal, false
	}
	v, diags := a.Expr.Value(in.ctx)
	require.False(t, diags.HasErrors(), "%s.%s: %s", in.addr, name, diags.Error())
	return v, !v.IsNull()
}

// str evaluates a required attribute that must be a string known before
// apply.
func (m *tfModule) str(t *testing.T, in tfInstance, name string) string {
	t.Helper()
	v, ok := m.value(t, in, name)
	require.True(t, ok, "%s: %s is missing", in.addr, name)
	v, err := convert.Convert(v, cty.String)
	require.NoError(t, err, "%s.%s", in.addr, name)
	require.True(t, v.IsKnown(), "%s.%s must be known before apply", in.addr, name)
	return v.AsString()
}

// optStr is str for an optional attribute ("" when absent).
func (m *tfModule) optStr(t *testing.T, in tfInstance, name string) string {
	t.Helper()
	if _, ok := in.body.Attributes[name]; !ok {
		return ""
	}
	return m.str(t, in, name)
}

// integer evaluates an attribute that must be a whole number known before
// apply.
func (m *tfModule) integer(t *testing.T, in tfInstance, name string) int64 {
	t.Helper()
	v, ok := m.value(t, in, name)
	require.True(t, ok, "%s: %s is missing", in.addr, name)
	v, err := convert.Convert(v, cty.Number)
	require.NoError(t, err, "%s.%s", in.addr, name)
	require.True(t, v.IsKnown(), "%s.%s must be known before apply", in.addr, name)
	i, acc := v.AsBigFloat().Int64()
	require.Zero(t, acc, "%s.%s must be a whole number", in.addr, name)
	return i
}

// float evaluates an attribute that must be a number known before apply.
func (m *tfModule) float(t *testing.T, in tfInstance, name string) float64 {
	t.Helper()
	v, ok := m.value(t, in, name)
	require.True(t, ok, "%s: %s is missing", in.addr, name)
	v, err := convert.Convert(v, cty.Number)
	require.NoError(t, err, "%s.%s", in.addr, name)
	require.True(t, v.IsKnown(), "%s.%s must be known before apply", in.addr, name)
	f, _ := v.AsBigFloat().Float64()
	return f
}

// text evaluates a string attribute for inspection. Where the value is
// unknown before apply because a template refers to another resource's
// attributes, it is the template's known parts with each unknown one shown
// as "${<reference>}", e.g. select_slo_burn_rate("${google_monitoring_slo.x.name}", "3600s").
func (m *tfModule) text(t *testing.T, in tfInstance, name string) string {
	t.Helper()
	a, ok := in.body.Attributes[name]
	require.True(t, ok, "%s: %s is missing", in.addr, name)
	return m.exprText(t, in, name, a.Expr)
}

func (m *tfModule) exprText(t *testing.T, in tfInstance, name string, e hclsyntax.Expression) string {
	t.Helper()
	v, diags := e.Value(in.ctx)
	require.False(t, diags.HasErrors(), "%s.%s: %s", in.addr, name, diags.Error())
	if v.IsWhollyKnown() {
		v, err := convert.Convert(v, cty.String)
		require.NoError(t, err, "%s.%s", in.addr, name)
		require.False(t, v.IsNull(), "%s.%s is null", in.addr, name)
		return v.AsString()
	}
	switch e := e.(type) {
	case *hclsyntax.TemplateExpr:
		var b strings.Builder
		for _, p := range e.Parts {
			b.WriteString(m.exprText(t, in, name, p))
		}
		return b.String()
	case *hclsyntax.TemplateWrapExpr:
		return m.exprText(t, in, name, e.Wrapped)
	case *hclsyntax.ScopeTraversalExpr:
		return "${" + traversalString(e.Traversal) + "}"
	}
	t.Fatalf("%s.%s is unknown before apply and not a template of references", in.addr, name)
	return ""
}

// exprTraversal returns the reference that e is ("local.x", "var.y[0]"), or
// "" when e is not a plain reference.
func exprTraversal(e hclsyntax.Expression) string {
	if st, ok := e.(*hclsyntax.ScopeTraversalExpr); ok {
		return traversalString(st.Traversal)
	}
	return ""
}

func traversalString(tr hcl.Traversal) string {
	var b strings.Builder
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type() == cty.String {
				fmt.Fprintf(&b, "[%q]", s.Key.AsString())
			} else {
				b.WriteString("[" + s.Key.AsBigFloat().String() + "]")
			}
		default:
			b.WriteString("[*]")
		}
	}
	return b.String()
}

type envVar struct {
	plain  bool      // has a non-null value
	value  cty.Value // the value when plain
	secret bool      // value_source.secret_key_ref with a secret
}

// containerEnv returns the environment of the containers of a Cloud Run
// service instance, by variable name.
func (m *tfModule) containerEnv(t *testing.T, svc tfInstance) map[string]envVar {
	t.Helper()
	out := map[string]envVar{}
	for _, tpl := range m.blocks(t, svc, "template") {
		for _, c := range m.blocks(t, tpl, "containers") {
			for _, e := range m.blocks(t, c, "env") {
				name := m.str(t, e, "name")
				require.NotContains(t, out, name, "%s: env %s set twice", svc.addr, name)
				var ev envVar
				ev.value, ev.plain = m.value(t, e, "value")
				for _, vs := range m.blocks(t, e, "value_source") {
					for _, ref := range m.blocks(t, vs, "secret_key_ref") {
						_, ev.secret = m.value(t, ref, "secret")
					}
				}
				out[name] = ev
			}
		}
	}
	return out
}

var topicIDRE = regexp.MustCompile(`^projects/[^/]+/topics/`)

// topicName returns the name of a topic given by id or name.
func topicName(s string) string { return topicIDRE.ReplaceAllString(s, "") }

// pubsubDuration parses a Pub/Sub duration such as "10s" or "0.5s".
func pubsubDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	require.True(t, strings.HasSuffix(s, "s"), "duration %q must end in s", s)
	d, err := time.ParseDuration(s)
	require.NoError(t, err)
	return d
}

func objectOrEmpty(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}

// tfFunctions are the Terraform functions infra/ may call. A call to another
// fails TestInfraEvaluates: add it here (go-cty's stdlib has most of them).
var tfFunctions = map[string]function.Function{
	"ceil":       stdlib.CeilFunc,
	"concat":     stdlib.ConcatFunc,
	"contains":   stdlib.ContainsFunc,
	"distinct":   stdlib.DistinctFunc,
	"file":       fileFunc,
	"flatten":    stdlib.FlattenFunc,
	"floor":      stdlib.FloorFunc,
	"format":     stdlib.FormatFunc,
	"join":       stdlib.JoinFunc,
	"jsonencode": stdlib.JSONEncodeFunc,
	"keys":       stdlib.KeysFunc,
	"length":     stdlib.LengthFunc,
	"lookup":     stdlib.LookupFunc,
	"lower":      stdlib.LowerFunc,
	"max":        stdlib.MaxFunc,
	"merge":      stdlib.MergeFunc,
	"setproduct": stdlib.SetProductFunc,
	"sort":       stdlib.SortFunc,
	"upper":      stdlib.UpperFunc,
	"values":     stdlib.ValuesFunc,
	"tolist":     convertFunc(cty.List(cty.DynamicPseudoType)),
	"tomap":      convertFunc(cty.Map(cty.DynamicPseudoType)),
	"toset":      convertFunc(cty.Set(cty.DynamicPseudoType)),
	"tostring":   convertFunc(cty.String),
}

// fileFunc is Terraform's file: the contents of a file, by a path relative
// to the working directory (infra/ reads path.module/..., which is
// infraDir here).
var fileFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "path", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		b, err := os.ReadFile(args[0].AsString())
		if err != nil {
			return cty.NilVal, err
		}
		return cty.StringVal(string(b)), nil
	},
})

// convertFunc is one of Terraform's to<type> functions: a conversion to want.
func convertFunc(want cty.Type) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowDynamicType: true, AllowNull: true}},
		Type: func(args []cty.Value) (cty.Type, error) {
			if !want.HasDynamicTypes() {
				return want, nil
			}
			if args[0].Type() == cty.DynamicPseudoType {
				return cty.DynamicPseudoType, nil
			}
			v, err := convert.Convert(args[0], want)
			if err != nil {
				return cty.NilType, function.NewArgError(0, err)
			}
			return v.Type(), nil
		},
		Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) {
			return convert.Convert(args[0], ret)
		},
	})
}
