package main

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/backend/providers"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/output"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/worker"
)

// Config is the worker's configuration: platform's shared variables and
// the worker's own.
type Config struct {
	platform.Config
	// Backends are the catalog backends this worker serves
	// (AIPROD_BACKENDS, comma-separated); nil serves every one.
	Backends []string
	// PollInterval overrides every provider's poll interval when positive
	// (AIPROD_POLL_INTERVAL; default 0, the providers' own).
	PollInterval time.Duration
	// SubmitTimeout bounds one submit (AIPROD_SUBMIT_TIMEOUT, positive,
	// default worker.SubmitTimeoutDefault); see worker.Config.
	SubmitTimeout time.Duration
	// Prefetch is how many deliveries each pull subscription of a backend
	// with a concurrency cap holds beyond that cap (AIPROD_PREFETCH, 1 to
	// 1000, default worker.PrefetchDefault, 2): fal, capped at 10, holds at
	// most 12 per worker instance; the rest of a backlog stays in Pub/Sub.
	// At least 1, so that deliveries refused a slot keep the backend's
	// waiting mark fresh and the stuck-job sweeper sees the backlog. See
	// worker.Config.Prefetch.
	Prefetch int
	// Push serves Pub/Sub push deliveries at POST /push instead of pulling
	// (AIPROD_PUSH, default false).
	Push bool
	// PushAuth is how push requests are authenticated (AIPROD_PUSH_AUTH):
	// PushAuthOIDC, the default, requires the push subscription's OIDC
	// token, of audience PushAudience (AIPROD_PUSH_AUDIENCE) and service
	// account PushServiceAccount (AIPROD_PUSH_SERVICE_ACCOUNT), both then
	// required in push mode; PushAuthOff accepts every request (local runs
	// only: the worker warns at start). See package pushauth.
	PushAuth           string
	PushAudience       string
	PushServiceAccount string
	// StepBudget is how long one push step polls before it answers
	// (AIPROD_STEP_BUDGET, 1s to worker.PushStepBudget, default
	// worker.StepBudgetDefault): below the push subscription's ack deadline,
	// which Terraform sets to worker.PushAckDeadline with this at
	// worker.PushStepBudget. Push mode only.
	StepBudget time.Duration
	// Output copies finished videos to Cloud Storage when Output.Bucket is
	// set (AIPROD_OUTPUT_BUCKET, a bucket name; AIPROD_OUTPUT_PREFIX, the
	// folder, default output.PrefixDefault). Validated when Bucket is set.
	// Output.AllowPrivateNetworks (AIPROD_ALLOW_PRIVATE_NETWORKS, default
	// false) lets downloads reach loopback and private addresses (local
	// runs against the simulators only). Output.SourceFolders is the
	// folder of AIPROD_VEO_STORAGE_URI, which must then be in the output
	// bucket: gs:// videos are taken only from the job's folders there.
	Output output.Config
	// ProviderEnv reads the providers' variables for package providers,
	// which owns them: the credential variable of each backend (named by
	// the catalog: RUNWAYML_API_SECRET, ...) and AIPROD_VEO_*. It is the
	// getenv of FromEnv.
	ProviderEnv func(string) string
}

// FromEnv reads the worker's configuration through getenv; the error names
// every bad variable.
func FromEnv(getenv func(string) string) (Config, error) {
	v := platform.NewVars(getenv)
	c := Config{
		Config:             platform.ReadConfig(v),
		Backends:           v.List("AIPROD_BACKENDS"),
		PollInterval:       v.PositiveDuration("AIPROD_POLL_INTERVAL", 0),
		SubmitTimeout:      v.PositiveDuration("AIPROD_SUBMIT_TIMEOUT", worker.SubmitTimeoutDefault),
		Prefetch:           v.Int("AIPROD_PREFETCH", worker.PrefetchDefault, 1, maxPrefetch),
		Push:               v.Bool("AIPROD_PUSH", false),
		PushAuth:           cmp.Or(strings.TrimSpace(v.Get("AIPROD_PUSH_AUTH")), PushAuthOIDC),
		PushAudience:       strings.TrimSpace(v.Get("AIPROD_PUSH_AUDIENCE")),
		PushServiceAccount: strings.TrimSpace(v.Get("AIPROD_PUSH_SERVICE_ACCOUNT")),
		StepBudget:         v.Duration("AIPROD_STEP_BUDGET", worker.StepBudgetDefault, time.Second, worker.PushStepBudget),
		Output:             readOutput(v),
		ProviderEnv:        getenv,
	}
	checkBackends(v, c)
	checkPushAuth(v, c)
	checkOutput(v, c.Output)
	return c, v.Err()
}

// maxPrefetch bounds AIPROD_PREFETCH.
const maxPrefetch = 1000

// readOutput reads the output copier's variables, defaults applied.
func readOutput(v *platform.Vars) output.Config {
	o := output.Config{
		Bucket:               v.Get("AIPROD_OUTPUT_BUCKET"),
		Prefix:               v.Get("AIPROD_OUTPUT_PREFIX"),
		AllowPrivateNetworks: v.Bool(netguard.EnvAllowPrivateNetworks, false),
	}
	// Veo writes <uri>/<job id>/<attempt>/...: accept the job's folder
	// there. (A URI that is not gs:// is the Veo adapter's to report.)
	veo := v.Get(providers.EnvVeoStorageURI)
	if rest, ok := strings.CutPrefix(veo, "gs://"); ok && o.Bucket != "" {
		bucket, folder, _ := strings.Cut(rest, "/")
		if bucket != o.Bucket {
			v.Fail(providers.EnvVeoStorageURI, "%s is not in AIPROD_OUTPUT_BUCKET %s: the worker takes gs:// videos only from "+
				"the job's folders in the output bucket", veo, o.Bucket)
		}
		o.SourceFolders = []string{strings.Trim(folder, "/")}
	}
	return o.WithDefaults()
}

// Values of AIPROD_PUSH_AUTH.
const (
	PushAuthOIDC = "oidc"
	PushAuthOff  = "off"
)

// serviceAccountRE is the shape of a service account email.
var serviceAccountRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.-]*\.[a-z]+$`)

// checkPushAuth records a bad AIPROD_PUSH_AUTH, AIPROD_PUSH_AUDIENCE or
// AIPROD_PUSH_SERVICE_ACCOUNT, and the two latter missing in push mode
// with OIDC authentication.
func checkPushAuth(v *platform.Vars, c Config) {
	if c.PushAuth != PushAuthOIDC && c.PushAuth != PushAuthOff {
		v.Fail("AIPROD_PUSH_AUTH", "%q must be %s or %s", c.PushAuth, PushAuthOIDC, PushAuthOff)
		return
	}
	if c.PushAudience != "" && strings.ContainsAny(c.PushAudience, " \t\n") {
		v.Fail("AIPROD_PUSH_AUDIENCE", "%q must not contain spaces", c.PushAudience)
	}
	if c.PushServiceAccount != "" && !serviceAccountRE.MatchString(c.PushServiceAccount) {
		v.Fail("AIPROD_PUSH_SERVICE_ACCOUNT", "%q is not a service account email (e.g. aiprod-push@PROJECT.iam.gserviceaccount.com)",
			c.PushServiceAccount)
	}
	if !c.Push || c.PushAuth == PushAuthOff {
		return
	}
	const why = "required in push mode (AIPROD_PUSH=true) unless AIPROD_PUSH_AUTH=off"
	if c.PushAudience == "" {
		v.Fail("AIPROD_PUSH_AUDIENCE", "%s: the audience of the push subscriptions' OIDC token", why)
	}
	if c.PushServiceAccount == "" {
		v.Fail("AIPROD_PUSH_SERVICE_ACCOUNT", "%s: the service account email of the push subscriptions' OIDC token", why)
	}
}

// checkBackends records each name of AIPROD_BACKENDS that is not in the
// catalog (unless the catalog failed to load: that error is recorded).
func checkBackends(v *platform.Vars, c Config) {
	if c.Catalog == nil {
		return
	}
	have := c.Catalog.Names()
	for _, b := range c.Backends {
		if !slices.Contains(have, b) {
			v.Fail("AIPROD_BACKENDS", "%q is not a catalog backend (have %s)", b, strings.Join(have, ", "))
		}
	}
}

// checkOutput records a bad AIPROD_OUTPUT_BUCKET, AIPROD_OUTPUT_PREFIX or
// folder of AIPROD_VEO_STORAGE_URI when the bucket is set.
func checkOutput(v *platform.Vars, o output.Config) {
	if o.Bucket == "" {
		return
	}
	withoutFolders := o
	withoutFolders.SourceFolders = nil
	if err := (output.Config{Bucket: o.Bucket}).WithDefaults().Validate(); err != nil {
		v.Fail("AIPROD_OUTPUT_BUCKET", "%w", err)
	} else if err := withoutFolders.Validate(); err != nil {
		v.Fail("AIPROD_OUTPUT_PREFIX", "%w", err)
	} else if err := o.Validate(); err != nil {
		v.Fail(providers.EnvVeoStorageURI, "%w", err)
	}
}
