package main

import (
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
	// Push serves Pub/Sub push deliveries at POST /push instead of pulling
	// (AIPROD_PUSH, default false).
	Push bool
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
		Config:        platform.ReadConfig(v),
		Backends:      v.List("AIPROD_BACKENDS"),
		PollInterval:  v.PositiveDuration("AIPROD_POLL_INTERVAL", 0),
		SubmitTimeout: v.PositiveDuration("AIPROD_SUBMIT_TIMEOUT", worker.SubmitTimeoutDefault),
		Push:          v.Bool("AIPROD_PUSH", false),
		Output:        readOutput(v),
		ProviderEnv:   getenv,
	}
	checkBackends(v, c)
	checkOutput(v, c.Output)
	return c, v.Err()
}

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
