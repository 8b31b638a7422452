package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/output"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/platform/platformtest"
	"github.com/aiprod/aiprod/pkg/worker"
)

type envs = map[string]string

// TestFromEnv covers the worker's own variables, and AIPROD_MAX_ATTEMPTS
// which it shares with the router; platform's TestFromEnvSharedVariables
// covers the others.
func TestFromEnv(t *testing.T) {
	t.Parallel()
	const have = "(have veo, runway, luma, replicate, fal)"
	bucket := envs{"AIPROD_OUTPUT_BUCKET": "b-1"}
	const sa = "aiprod-push@p.iam.gserviceaccount.com"
	platformtest.Check(t, FromEnv,
		platformtest.Variable("AIPROD_BACKENDS", func(c Config) any { return c.Backends },
			platformtest.Unset([]string(nil)),
			platformtest.Set("runway", []string{"runway"}),
			platformtest.Set("runway, luma", []string{"runway", "luma"}),
			platformtest.Bad("sora", `AIPROD_BACKENDS: "sora" is not a catalog backend `+have),
			platformtest.Bad("runway,Luma", `AIPROD_BACKENDS: "Luma" is not a catalog backend `+have),
			platformtest.Bad("runway,", `AIPROD_BACKENDS: "runway," has an empty item: want a comma-separated list such as a,b`)),
		platformtest.Variable("AIPROD_POLL_INTERVAL", func(c Config) any { return c.PollInterval },
			platformtest.Unset(time.Duration(0)),
			platformtest.Set("50ms", 50*time.Millisecond),
			platformtest.Bad("fast", `AIPROD_POLL_INTERVAL: "fast" is not a duration (e.g. 90s, 2m)`),
			platformtest.Bad("0s", `AIPROD_POLL_INTERVAL: "0s" must be positive`)),
		platformtest.Variable("AIPROD_SUBMIT_TIMEOUT", func(c Config) any { return c.SubmitTimeout },
			platformtest.Unset(worker.SubmitTimeoutDefault),
			platformtest.Set("2s", 2*time.Second),
			platformtest.Bad("abc", `AIPROD_SUBMIT_TIMEOUT: "abc" is not a duration (e.g. 90s, 2m)`),
			platformtest.Bad("-1s", `AIPROD_SUBMIT_TIMEOUT: "-1s" must be positive`)),
		platformtest.Variable("AIPROD_PREFETCH", func(c Config) any { return c.Prefetch },
			platformtest.Unset(worker.PrefetchDefault),
			platformtest.Set("1", 1),
			platformtest.Set("1000", 1000),
			platformtest.Bad("0", `AIPROD_PREFETCH: "0" must be between 1 and 1000`),
			platformtest.Bad("1001", `AIPROD_PREFETCH: "1001" must be between 1 and 1000`),
			platformtest.Bad("two", `AIPROD_PREFETCH: "two" is not a whole number`)),
		platformtest.Variable("AIPROD_PUSH", func(c Config) any { return c.Push },
			platformtest.Unset(false),
			platformtest.Set("true", true).With(envs{"AIPROD_PUSH_AUDIENCE": "aud", "AIPROD_PUSH_SERVICE_ACCOUNT": sa}),
			platformtest.Set("0", false),
			platformtest.Bad("yes", `AIPROD_PUSH: "yes" is not a boolean (true or false)`)),
		platformtest.Variable("AIPROD_STEP_BUDGET", func(c Config) any { return c.StepBudget },
			platformtest.Unset(worker.StepBudgetDefault),
			platformtest.Set("9m", worker.PushStepBudget),
			platformtest.Set("1s", time.Second),
			platformtest.Bad("10m", `AIPROD_STEP_BUDGET: "10m" must be between 1s and 9m`),
			platformtest.Bad("500ms", `AIPROD_STEP_BUDGET: "500ms" must be between 1s and 9m`),
			platformtest.Bad("long", `AIPROD_STEP_BUDGET: "long" is not a duration (e.g. 90s, 2m)`)),
		platformtest.Variable("AIPROD_OUTPUT_BUCKET", func(c Config) any { return c.Output.Bucket },
			platformtest.Unset(""),
			platformtest.Set("aiprod-outputs", "aiprod-outputs"),
			platformtest.Bad("gs://aiprod-outputs", `AIPROD_OUTPUT_BUCKET: output: Config.Bucket "gs://aiprod-outputs" `+
				`(AIPROD_OUTPUT_BUCKET) must be a bucket name such as aiprod-outputs, without gs://`)),
		platformtest.Variable("AIPROD_OUTPUT_PREFIX", func(c Config) any { return c.Output.Prefix },
			platformtest.Unset(output.PrefixDefault),
			platformtest.Set("clips/2025", "clips/2025").With(bucket),
			platformtest.Set("/clips/", "clips").With(bucket),
			platformtest.Bad("a//b", `AIPROD_OUTPUT_PREFIX: output: Config.Prefix "a//b" `+
				`must be slash-separated names without empty, . or .. segments`).With(bucket)),
		platformtest.Variable("AIPROD_ALLOW_PRIVATE_NETWORKS", func(c Config) any { return c.Output.AllowPrivateNetworks },
			platformtest.Unset(false),
			platformtest.Set("true", true),
			platformtest.Set("false", false),
			platformtest.Bad("yes", `AIPROD_ALLOW_PRIVATE_NETWORKS: "yes" is not a boolean (true or false)`)),
		platformtest.Variable("AIPROD_VEO_STORAGE_URI", func(c Config) any { return c.Output.SourceFolders },
			platformtest.Unset([]string(nil)),
			platformtest.Set("gs://b-1/veo", []string(nil)), // no output bucket: nothing copied
			platformtest.Set("gs://b-1/veo/", []string{"veo"}).With(bucket),
			platformtest.Set("gs://b-1", []string{""}).With(bucket),
			platformtest.Set("b-1/veo", []string(nil)).With(bucket), // the Veo adapter reports it
			platformtest.Bad("gs://b-1/a/../veo", `AIPROD_VEO_STORAGE_URI: output: Config.SourceFolders: "a/../veo" `+
				`must be slash-separated names without empty, . or .. segments`).With(bucket),
			platformtest.Bad("gs://veo-out/veo", `AIPROD_VEO_STORAGE_URI: gs://veo-out/veo is not in AIPROD_OUTPUT_BUCKET b-1: `+
				`the worker takes gs:// videos only from the job's folders in the output bucket`).With(bucket)),
		platformtest.Variable("AIPROD_MAX_ATTEMPTS", func(c Config) any { return c.MaxAttempts },
			platformtest.Unset(worker.MaxAttemptsDefault),
			platformtest.Set("4", 4),
			platformtest.Bad("x", `AIPROD_MAX_ATTEMPTS: "x" is not a whole number`)),
	)
}

// TestFromEnvPushAuth covers the variables of push authentication.
func TestFromEnvPushAuth(t *testing.T) {
	t.Parallel()
	const sa = "aiprod-push@p.iam.gserviceaccount.com"
	push := envs{"AIPROD_PUSH": "true", "AIPROD_PUSH_AUDIENCE": "aiprod-worker-runway", "AIPROD_PUSH_SERVICE_ACCOUNT": sa}
	platformtest.Check(t, FromEnv,
		platformtest.Variable("AIPROD_PUSH_AUTH", func(c Config) any { return c.PushAuth },
			platformtest.Unset(PushAuthOIDC),
			platformtest.Set("oidc", PushAuthOIDC),
			platformtest.Set("off", PushAuthOff).With(envs{"AIPROD_PUSH": "true"}),
			platformtest.Bad("none", `AIPROD_PUSH_AUTH: "none" must be oidc or off`),
			platformtest.Bad("OFF", `AIPROD_PUSH_AUTH: "OFF" must be oidc or off`)),
		platformtest.Variable("AIPROD_PUSH_AUDIENCE", func(c Config) any { return c.PushAudience },
			platformtest.Unset(""),
			platformtest.Set(" https://w.example/push ", "https://w.example/push"),
			platformtest.Set("aiprod-worker-runway", "aiprod-worker-runway").With(push),
			platformtest.Set("", "").With(envs{"AIPROD_PUSH": "true", "AIPROD_PUSH_AUTH": "off"}),
			platformtest.Bad("", `AIPROD_PUSH_AUDIENCE: required in push mode (AIPROD_PUSH=true) unless AIPROD_PUSH_AUTH=off: `+
				`the audience of the push subscriptions' OIDC token`).With(envs{"AIPROD_PUSH": "true", "AIPROD_PUSH_SERVICE_ACCOUNT": sa}),
			platformtest.Bad("a b", `AIPROD_PUSH_AUDIENCE: "a b" must not contain spaces`)),
		platformtest.Variable("AIPROD_PUSH_SERVICE_ACCOUNT", func(c Config) any { return c.PushServiceAccount },
			platformtest.Unset(""),
			platformtest.Set(sa, sa),
			platformtest.Set("123-compute@developer.gserviceaccount.com", "123-compute@developer.gserviceaccount.com").With(push),
			platformtest.Set("", "").With(envs{"AIPROD_PUSH": "true", "AIPROD_PUSH_AUTH": "off"}),
			platformtest.Bad("", `AIPROD_PUSH_SERVICE_ACCOUNT: required in push mode (AIPROD_PUSH=true) unless AIPROD_PUSH_AUTH=off: `+
				`the service account email of the push subscriptions' OIDC token`).With(envs{"AIPROD_PUSH": "true", "AIPROD_PUSH_AUDIENCE": "aud"}),
			platformtest.Bad("aiprod-push", `AIPROD_PUSH_SERVICE_ACCOUNT: "aiprod-push" is not a service account email `+
				`(e.g. aiprod-push@PROJECT.iam.gserviceaccount.com)`),
			platformtest.Bad("Push@P.iam.gserviceaccount.com", `AIPROD_PUSH_SERVICE_ACCOUNT: "Push@P.iam.gserviceaccount.com" `+
				`is not a service account email (e.g. aiprod-push@PROJECT.iam.gserviceaccount.com)`)),
	)
}

// TestFromEnvProviderEnv: the providers' variables reach package providers
// as they are.
func TestFromEnvProviderEnv(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(platformtest.Getenv(envs{"GOOGLE_CLOUD_PROJECT": "p", "RUNWAYML_API_SECRET": "k"}))
	require.NoError(t, err)
	require.Equal(t, "k", c.ProviderEnv("RUNWAYML_API_SECRET"))
	require.Equal(t, worker.MaxAttemptsDefault, platform.MaxAttemptsDefault)
}

// TestFromEnvReportsEveryBadVariable: the worker's and the shared errors
// come together, in the order read.
func TestFromEnvReportsEveryBadVariable(t *testing.T) {
	t.Parallel()
	_, err := FromEnv(platformtest.Getenv(envs{"GOOGLE_CLOUD_PROJECT": "p", "AIPROD_ACK_DEADLINE": "1s",
		"AIPROD_SUBMIT_TIMEOUT": "abc", "AIPROD_BACKENDS": "sora"}))
	require.EqualError(t, err, `AIPROD_ACK_DEADLINE: "1s" must be between 10s and 10m`+"\n"+
		`AIPROD_SUBMIT_TIMEOUT: "abc" is not a duration (e.g. 90s, 2m)`+"\n"+
		`AIPROD_BACKENDS: "sora" is not a catalog backend (have veo, runway, luma, replicate, fal)`)
}

// TestFromEnvPushNeedsAuthentication: push mode without the OIDC variables
// does not start (both named), unless AIPROD_PUSH_AUTH=off says so; pull
// mode needs neither.
func TestFromEnvPushNeedsAuthentication(t *testing.T) {
	t.Parallel()
	_, err := FromEnv(platformtest.Getenv(envs{"GOOGLE_CLOUD_PROJECT": "p", "AIPROD_PUSH": "true"}))
	require.ErrorContains(t, err, "AIPROD_PUSH_AUDIENCE: required in push mode")
	require.ErrorContains(t, err, "AIPROD_PUSH_SERVICE_ACCOUNT: required in push mode")
	c, err := FromEnv(platformtest.Getenv(envs{"GOOGLE_CLOUD_PROJECT": "p", "AIPROD_PUSH": "true", "AIPROD_PUSH_AUTH": "off"}))
	require.NoError(t, err)
	require.Equal(t, PushAuthOff, c.PushAuth)
	c, err = FromEnv(platformtest.Getenv(envs{"GOOGLE_CLOUD_PROJECT": "p"}))
	require.NoError(t, err)
	require.False(t, c.Push)
	require.Equal(t, PushAuthOIDC, c.PushAuth)
}
