package test

// The warehouse (infra/bigquery.tf): the BigQuery table and the
// subscription that fills it must fit each other and the events the code
// publishes, and the example queries of infra/README.md must read fields
// those events carry. No BigQuery is reachable here: the table schema is
// the one file both the Terraform and this test read, and the queries'
// JSON paths are resolved against events published by the code itself.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store"
)

const warehouseSchemaFile = infraDir + "/bigquery/events_schema.json"

// bqColumn is one column of a BigQuery JSON schema file.
type bqColumn struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Mode        string `json:"mode"`
	Description string `json:"description"`
}

// writeMetadataColumns are the columns a BigQuery subscription with
// write_metadata and without a table or topic schema writes, with the
// types this warehouse gives them (https://cloud.google.com/pubsub/docs/bigquery:
// data may be STRING, BYTES or JSON, attributes STRING or JSON; JSON here, so
// that queries read fields with JSON_VALUE and BigQuery stores each field
// as a column of its own).
var writeMetadataColumns = map[string]string{
	"subscription_name": "STRING",
	"message_id":        "STRING",
	"publish_time":      "TIMESTAMP",
	"data":              "JSON",
	"attributes":        "JSON",
}

// clusterableTypes are the column types BigQuery clusters on.
var clusterableTypes = []string{"STRING", "TIMESTAMP", "DATE", "DATETIME", "INT64", "INTEGER", "NUMERIC", "BIGNUMERIC", "BOOL", "BOOLEAN", "GEOGRAPHY"}

func isBigQuerySubscription(t *testing.T, m *tfModule, in tfInstance) bool {
	t.Helper()
	return len(m.blocks(t, in, "bigquery_config")) > 0
}

// one returns the only instance of typ.
func (m *tfModule) one(t *testing.T, typ string) tfInstance {
	t.Helper()
	ins := m.instancesOf(t, typ)
	require.Len(t, ins, 1, "one %s", typ)
	return ins[0]
}

func (m *tfModule) boolean(t *testing.T, in tfInstance, name string) bool {
	t.Helper()
	v, ok := m.value(t, in, name)
	require.True(t, ok, "%s: %s is missing", in.addr, name)
	require.True(t, v.Type() == cty.Bool && v.IsKnown(), "%s.%s must be a bool known before apply", in.addr, name)
	return v.True()
}

// TestInfraWarehouseTable: the table's schema is infra/bigquery/events_schema.json
// (schema = file(...)), with exactly the columns the subscription writes,
// of the right types; it is partitioned by the day of publish_time, every
// query must bound it, partitions expire after warehouse_retention_days
// (never with 0), it clusters on scalar columns of the schema, and it sits
// in the dataset, which is in warehouse_location and protected like the
// table.
func TestInfraWarehouseTable(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	raw, err := os.ReadFile(warehouseSchemaFile)
	require.NoError(t, err)
	var cols []bqColumn
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&cols), warehouseSchemaFile)

	got := map[string]string{}
	for _, c := range cols {
		require.NotContains(t, got, c.Name, "column %s twice", c.Name)
		require.Contains(t, []string{"", "NULLABLE"}, c.Mode, "column %s: the subscription leaves no column it does not write, and a REQUIRED one refuses rows without it", c.Name)
		require.NotEmpty(t, c.Description, "column %s: documented", c.Name)
		got[c.Name] = c.Type
	}
	require.Equal(t, writeMetadataColumns, got, "%s vs the columns of write_metadata", warehouseSchemaFile)

	tbl := m.one(t, "google_bigquery_table")
	require.Equal(t, string(raw), m.str(t, tbl, "schema"), "%s.schema is file(%s)", tbl.addr, warehouseSchemaFile)
	require.Equal(t, "events", m.str(t, tbl, "table_id"))
	ds := m.one(t, "google_bigquery_dataset")
	require.Equal(t, "${"+ds.addr+".dataset_id}", m.text(t, tbl, "dataset_id"), "the table is in the dataset")
	require.Equal(t, "aiprod_warehouse", m.str(t, ds, "dataset_id"))
	require.Equal(t, m.vars["warehouse_location"].AsString(), m.str(t, ds, "location"))
	require.False(t, m.boolean(t, ds, "delete_contents_on_destroy"), "destroy never deletes the events")
	require.True(t, m.boolean(t, tbl, "deletion_protection"), "deletion protection at the defaults")
	require.Equal(t, "var.deletion_protection", exprTraversal(tbl.body.Attributes["deletion_protection"].Expr))

	parts := m.blocks(t, tbl, "time_partitioning")
	require.Len(t, parts, 1)
	require.Equal(t, "DAY", m.str(t, parts[0], "type"))
	require.Equal(t, "publish_time", m.str(t, parts[0], "field"))
	require.Equal(t, "TIMESTAMP", got["publish_time"])
	days := varInt(t, m, "warehouse_retention_days")
	require.Positive(t, days, "the default keeps a bounded history")
	require.EqualValues(t, int64(days)*int64(24*time.Hour/time.Millisecond), m.integer(t, parts[0], "expiration_ms"))
	require.True(t, m.boolean(t, tbl, "require_partition_filter"))

	keep := loadInfraWith(t, map[string]cty.Value{"warehouse_retention_days": cty.NumberIntVal(0)})
	_, expires := keep.value(t, keep.blocks(t, keep.one(t, "google_bigquery_table"), "time_partitioning")[0], "expiration_ms")
	require.False(t, expires, "warehouse_retention_days = 0 keeps every partition")

	v, ok := m.value(t, tbl, "clustering")
	require.True(t, ok, "%s.clustering", tbl.addr)
	require.True(t, v.LengthInt() >= 1 && v.LengthInt() <= 4, "BigQuery clusters on 1 to 4 columns")
	for it := v.ElementIterator(); it.Next(); {
		_, c := it.Element()
		require.Contains(t, got, c.AsString(), "clustering column %s is in the schema", c.AsString())
		require.Contains(t, clusterableTypes, got[c.AsString()], "clustering column %s is scalar", c.AsString())
	}
}

// TestInfraWarehouseSubscription: one BigQuery subscription, on
// aiprod-events, not one of queue.Topology's (no service reads it), writing
// with write_metadata and no table or topic schema to the checked table,
// leaving out the notifier's republished copies, dead-lettering to
// aiprod-events-dlq; Pub/Sub's service agent may write to the dataset and
// read its metadata, acknowledge on the subscription and publish to the
// dead-letter topic; the BigQuery API is on.
func TestInfraWarehouseSubscription(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	var subs []tfInstance
	for _, in := range m.instancesOf(t, "google_pubsub_subscription") {
		if isBigQuerySubscription(t, m, in) {
			subs = append(subs, in)
		}
	}
	require.Len(t, subs, 1, "one BigQuery subscription")
	sub := subs[0]
	name := m.str(t, sub, "name")
	for _, s := range queue.Topology(catalog.Default().Names()) {
		require.NotEqual(t, s.Name, name, "the warehouse's subscription is not a service's")
	}
	require.Equal(t, queue.TopicEvents, topicName(m.str(t, sub, "topic")))
	require.Equal(t, "NOT attributes:"+queue.AttrRepublished, m.str(t, sub, "filter"), "republished copies repeat an event")
	require.Empty(t, m.blocks(t, sub, "push_config"))

	bq := m.blocks(t, sub, "bigquery_config")[0]
	tbl := m.one(t, "google_bigquery_table")
	require.Equal(t, fmt.Sprintf("${%[1]s.project}.${%[1]s.dataset_id}.${%[1]s.table_id}", tbl.addr), m.text(t, bq, "table"),
		"the subscription writes to the checked table")
	require.True(t, m.boolean(t, bq, "write_metadata"))
	for _, a := range []string{"use_table_schema", "use_topic_schema"} {
		if _, set := bq.body.Attributes[a]; set {
			require.False(t, m.boolean(t, bq, a), "%s: the events differ in shape; data is one JSON column", a)
		}
	}
	dl := m.blocks(t, sub, "dead_letter_policy")
	require.Len(t, dl, 1)
	require.Equal(t, queue.DeadLetterTopic(queue.TopicEvents), topicName(m.str(t, dl[0], "dead_letter_topic")))
	require.EqualValues(t, queue.MaxDeliveryAttemptsDefault, m.integer(t, dl[0], "max_delivery_attempts"))

	ds := m.one(t, "google_bigquery_dataset")
	var roles []string
	for _, in := range m.instancesOf(t, "google_bigquery_dataset_iam_member") {
		require.Equal(t, "${"+ds.addr+".dataset_id}", m.text(t, in, "dataset_id"), in.addr)
		require.Equal(t, "${local.pubsub_agent}", m.text(t, in, "member"), "%s: only Pub/Sub's service agent", in.addr)
		roles = append(roles, m.str(t, in, "role"))
	}
	slices.Sort(roles)
	require.Equal(t, []string{"roles/bigquery.dataEditor", "roles/bigquery.metadataViewer"}, roles)
	for _, typ := range []string{"google_bigquery_dataset_iam_binding", "google_bigquery_dataset_iam_policy", "google_bigquery_dataset_access"} {
		require.Empty(t, m.instancesOf(t, typ), "%s would replace the grants above", typ)
	}
	deps := map[string]bool{}
	for _, tr := range hclsyntax.Variables(sub.body.Attributes["depends_on"].Expr) {
		deps[traversalString(tr)] = true
	}
	require.True(t, deps["google_bigquery_dataset_iam_member.pubsub_agent_warehouse"], "created after the grants it writes with")

	subscriber := false
	for _, in := range m.instancesOf(t, "google_pubsub_subscription_iam_member") {
		if m.str(t, in, "subscription") == "projects/PROJECT/subscriptions/"+name {
			require.Equal(t, "${local.pubsub_agent}", m.text(t, in, "member"))
			subscriber = subscriber || m.str(t, in, "role") == "roles/pubsub.subscriber"
		}
	}
	require.True(t, subscriber, "the service agent acknowledges what it dead-letters from %s", name)
	var keys []string
	for _, in := range m.instancesOf(t, "google_pubsub_topic_iam_member") {
		if strings.HasPrefix(in.addr, "google_pubsub_topic_iam_member.pubsub_agent_dead_letter_publisher[") {
			keys = append(keys, in.key)
		}
	}
	require.Contains(t, keys, queue.TopicEvents, "the service agent publishes to %s", queue.DeadLetterTopic(queue.TopicEvents))
	var apis []string
	for _, in := range m.instancesOf(t, "google_project_service") {
		apis = append(apis, in.key)
	}
	require.Contains(t, apis, "bigquery.googleapis.com")
}

var (
	sqlBlockRE  = regexp.MustCompile("(?s)```sql\n(.*?)```")
	jsonPathRE  = regexp.MustCompile(`JSON_(?:VALUE|QUERY)\(\s*(data|attributes)\s*,\s*'([^']*)'\s*\)`)
	jsonFuncRE  = regexp.MustCompile(`JSON_[A-Z_]+\(`)
	dotAccessRE = regexp.MustCompile(`\b(?:data|attributes)\s*\.\s*[A-Za-z_]`)
	statusRE    = regexp.MustCompile(`'\$\.status'\)\s*=\s*'([a-z_]+)'`)
	fromRE      = regexp.MustCompile("FROM\\s+`([^`]+)`")
)

// warehouseQueries returns the SQL blocks of infra/README.md's "Warehouse"
// section.
func warehouseQueries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(infraDir, "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(data), "\n## Warehouse\n")
	require.True(t, ok, "infra/README.md has a ## Warehouse section")
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var out []string
	for _, m := range sqlBlockRE.FindAllStringSubmatch(section, -1) {
		out = append(out, m[1])
	}
	return out
}

// warehouseSample is an event as the table holds it: data and attributes
// as JSON objects.
type warehouseSample struct {
	data, attrs map[string]any
}

// warehouseSamples publishes, with the code that publishes them, a failed
// and a succeeded job's lifecycle events and a failed attempt's ledger
// entry with every field set, and returns them by family: "lifecycle" and
// the ledger entries' event type.
func warehouseSamples(t *testing.T) map[string][]warehouseSample {
	t.Helper()
	ctx := context.Background()
	q := memqueue.New()
	require.NoError(t, q.EnsureTopic(ctx, queue.TopicEvents))
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	failed := job.New("j1", "dev", job.Request{QualityTier: job.TierPremium}, at)
	require.NoError(t, failed.Fail(job.CodeBackendFailed, "every backend failed", at.Add(3*time.Minute)))
	done := job.New("j2", "dev", job.Request{QualityTier: job.TierDraft}, at)
	require.NoError(t, done.Transition(job.StatusDispatched, at.Add(time.Second)))
	require.NoError(t, done.Transition(job.StatusSucceeded, at.Add(90*time.Second)))
	for _, j := range []*job.Job{failed, done} {
		_, err := dispatch.PublishLifecycle(ctx, q, dispatch.LifecycleOf(j))
		require.NoError(t, err)
	}
	require.NoError(t, budget.PublishLedger(ctx, q, []store.LedgerEntry{{
		ID: store.LedgerID("j1", 2), JobID: "j1", Attempt: 2, ProjectID: "dev", UserID: "alice", Backend: "luma", Model: "ray-2",
		Shape:  store.Shape{Tier: job.TierPremium, Resolution: job.Res1080p, AspectRatio: job.Aspect16x9, Seconds: 5, Audio: true, ImageScheme: "https"},
		Period: "2026-12", Seconds: 5, Status: job.AttemptFailed, Estimate: 710_000, Reserved: 710_000, Cost: 350_000,
		Released: 710_000, Final: true, At: at.Add(3 * time.Minute), ErrorCode: job.CodeBackendFailed, Generation: 42 * time.Second,
	}}))
	out := map[string][]warehouseSample{}
	for _, msg := range q.Published(queue.TopicEvents) {
		var s warehouseSample
		require.NoError(t, json.Unmarshal(msg.Data, &s.data))
		s.attrs = map[string]any{}
		for k, v := range msg.Attributes {
			s.attrs[k] = v
		}
		family := cmp.Or(msg.Attributes[queue.AttrEventType], "lifecycle")
		out[family] = append(out[family], s)
	}
	require.Len(t, out["lifecycle"], 2)
	require.Len(t, out[budget.EventTypeLedgerEntry], 1)
	return out
}

// resolves reports whether JSON path p ("$.a.b") names a member of v.
func resolves(v map[string]any, p string) bool {
	steps, ok := strings.CutPrefix(p, "$.")
	if !ok {
		return false
	}
	var cur any = v
	for _, s := range strings.Split(steps, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = obj[s]; !ok {
			return false
		}
	}
	return true
}

// TestInfraWarehouseQueries: infra/README.md's three example queries read
// the warehouse table, bound publish_time (the table requires it), remove
// duplicate deliveries, and read only fields that the code's events
// carry: each JSON path of data is a member of an event of the family the
// query selects (the ledger entries by their event_type, the job lifecycle
// events by having none), each path of attributes a member of some event's
// attributes, each status compared with a job status. Fields reached any
// other way than JSON_VALUE or JSON_QUERY with a literal path fail the
// test, so none escapes the check.
func TestInfraWarehouseQueries(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
	table := m.locals["warehouse_dataset"].AsString() + "." + m.locals["warehouse_table"].AsString()
	samples := warehouseSamples(t)
	var allAttrs []map[string]any
	for _, ss := range samples {
		for _, s := range ss {
			allAttrs = append(allAttrs, s.attrs)
		}
	}
	queries := warehouseQueries(t)
	require.Len(t, queries, 3, "cost by backend by week, failure reasons, p95 completion by tier")
	for i, sql := range queries {
		where := fmt.Sprintf("infra/README.md, query %d", i+1)
		for _, f := range fromRE.FindAllStringSubmatch(sql, -1) {
			require.Equal(t, table, f[1], "%s reads the warehouse table", where)
		}
		require.NotEmpty(t, fromRE.FindAllStringSubmatch(sql, -1), "%s: FROM `%s`", where, table)
		require.Contains(t, sql, "publish_time >=", "%s bounds publish_time", where)
		require.Contains(t, sql, "QUALIFY ROW_NUMBER() OVER (PARTITION BY", "%s removes duplicate deliveries", where)
		require.Empty(t, dotAccessRE.FindAllString(sql, -1), "%s: read fields with JSON_VALUE", where)

		var family string
		switch ledger := strings.Contains(sql, "'"+budget.EventTypeLedgerEntry+"'"); {
		case ledger:
			family = budget.EventTypeLedgerEntry
		case strings.Contains(sql, "JSON_VALUE(attributes, '$.event_type') IS NULL"):
			family = "lifecycle"
		}
		require.NotEmpty(t, family, "%s selects ledger entries or job lifecycle events", where)

		paths := jsonPathRE.FindAllStringSubmatch(sql, -1)
		require.Len(t, paths, len(jsonFuncRE.FindAllString(sql, -1)), "%s: every JSON function reads data or attributes at a literal path", where)
		for _, p := range paths {
			col, path := p[1], p[2]
			pool := allAttrs
			if col == "data" {
				pool = nil
				for _, s := range samples[family] {
					pool = append(pool, s.data)
				}
			}
			found := slices.ContainsFunc(pool, func(v map[string]any) bool { return resolves(v, path) })
			require.True(t, found, "%s reads %s %s, which no %s event carries", where, col, path, family)
		}
		for _, s := range statusRE.FindAllStringSubmatch(sql, -1) {
			require.True(t, job.Status(s[1]).Valid(), "%s: %q is not a job status", where, s[1])
		}
	}
}
