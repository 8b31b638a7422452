package test

// The Terraform in infra/ must deploy what the code expects. These tests
// parse every infra/*.tf with the HCL parser Terraform uses, evaluate the
// expressions they need (variables at their defaults, locals, for_each and
// dynamic blocks, the functions the files call), and compare the result with
// the code: queue.Topology, the Firestore indexes file, the catalog's
// credential variables and backend names. A change on either side that the
// other does not follow fails here.
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
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

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
	"github.com/aiprod/aiprod/pkg/queue"
)

const (
	infraDir             = "../infra"
	firestoreIndexesFile = "../pkg/store/firestorestore/indexes.json"
)

// TestInfraEvaluates: every infra/*.tf file parses, the files README.md
// promises exist, and every expression in them evaluates with the variables'
// defaults (undefined locals or variables, unknown functions, wrong types in
// for_each or dynamic blocks fail here).
func TestInfraEvaluates(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"versions.tf", "variables.tf", "pubsub.tf", "firestore.tf", "run.tf",
		"iam.tf", "monitoring.tf", "slo.tf", "dashboard.tf", "outputs.tf", "README.md"} {
		_, err := os.Stat(filepath.Join(infraDir, f))
		require.NoError(t, err, "infra/%s", f)
	}
	m := loadInfra(t)
	for _, r := range m.resources {
		for _, in := range m.instances(t, r) {
			m.evalAll(t, in)
		}
	}
	for _, b := range m.others {
		m.evalAll(t, tfInstance{addr: b.Type + "." + strings.Join(b.Labels, "."), body: b.Body, ctx: m.ctx(nil)})
	}
}

// TestInfraPubSubMatchesTopology: the Terraform creates exactly the topics and
// subscriptions of queue.Topology for the catalog's backends, each
// subscription on its topic with the same ack deadline, dead-letter topic,
// max delivery attempts and retry backoff (none where Topology has none).
func TestInfraPubSubMatchesTopology(t *testing.T) {
	t.Parallel()
	m := loadInfra(t)
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
	}
	got := map[string]subscription{}
	for _, in := range m.instancesOf(t, "google_pubsub_subscription") {
		name := m.str(t, in, "name")
		require.NotContains(t, got, name, "%s: subscription %s declared twice", in.addr, name)
		s := subscription{Topic: topicName(m.str(t, in, "topic")), AckDeadline: 10 * time.Second} // Pub/Sub's default
		if _, ok := in.body.Attributes["ack_deadline_seconds"]; ok {
			s.AckDeadline = time.Duration(m.integer(t, in, "ack_deadline_seconds")) * time.Second
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
		require.Equal(t, subscription{
			Topic: w.Topic, AckDeadline: w.AckDeadline, DeadLetterTopic: w.DeadLetterTopic,
			MaxDeliveryAttempts: w.MaxDeliveryAttempts, MinBackoff: w.MinBackoff, MaxBackoff: w.MaxBackoff,
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

	keyVars := map[string]bool{"AIPROD_ADMIN_KEY": true, "AIPROD_BOOTSTRAP_API_KEY": true, providers.EnvVeoStaticToken: true}
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

// TestInfraBackendsMatchCatalog: the backends variable defaults to the
// catalog's backend names, and backend_credentials to their credential
// variables. The Terraform treats a backend without credentials as Veo on
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
}

// ---- A small evaluator of the subset of Terraform that infra/ uses ---------

// modeledTypes are the resource types whose instances carry values (name and
// id, from the function) that other expressions can use; every other
// resource is unknown, as before apply.
var modeledTypes = map[string]func(name string) string{
	"google_pubsub_topic": func(name string) string { return "projects/PROJECT/topics/" + name },
}

type tfModule struct {
	vars      map[string]cty.Value
	locals    map[string]cty.Value
	resources []*tfResource
	others    []*hclsyntax.Block // data and output blocks
	types     map[string]bool    // resource types declared
	modeled   map[string]map[string]cty.Value
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
	files, err := filepath.Glob(filepath.Join(infraDir, "*.tf"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no Terraform files in %s", infraDir)
	sort.Strings(files)

	m := &tfModule{vars: map[string]cty.Value{}, locals: map[string]cty.Value{}, types: map[string]bool{},
		modeled: map[string]map[string]cty.Value{}}
	pendingLocals := map[string]hclsyntax.Expression{}
	p := hclparse.NewParser()
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		require.False(t, diags.HasErrors(), "parse %s: %s", f, diags.Error())
		for _, b := range file.Body.(*hclsyntax.Body).Blocks {
			switch b.Type {
			case "variable":
				m.vars[b.Labels[0]] = variableDefault(t, b)
			case "locals":
				for n, a := range b.Body.Attributes {
					require.NotContains(t, pendingLocals, n, "local.%s defined twice", n)
					pendingLocals[n] = a.Expr
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

	// Evaluate locals and modeled resources in dependency order.
	pendingRes := map[string]*tfResource{}
	for _, r := range m.resources {
		if modeledTypes[r.Type] != nil {
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
			if !m.ready(attrExpr(r.body, "for_each"), pendingLocals, pendingRes) ||
				!m.ready(attrExpr(r.body, "name"), pendingLocals, pendingRes) {
				continue
			}
			insts := map[string]cty.Value{}
			for _, in := range m.instances(t, r) {
				name := m.str(t, in, "name")
				insts[in.key] = cty.ObjectVal(map[string]cty.Value{
					"name": cty.StringVal(name), "id": cty.StringVal(modeledTypes[r.Type](name)),
				})
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
	return m
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
		case modeledTypes[root] != nil:
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
		if modeledTypes[typ] == nil {
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
	"concat":     stdlib.ConcatFunc,
	"contains":   stdlib.ContainsFunc,
	"distinct":   stdlib.DistinctFunc,
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
