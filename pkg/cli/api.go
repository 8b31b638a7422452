package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
)

// Defaults of the API commands.
const (
	APIDefault    = "http://127.0.0.1:8080"
	APIKeyDefault = "dev-key"
)

type apiFlags struct{ api, key string }

func addAPIFlags(fs *flag.FlagSet, env *Env) *apiFlags {
	f := &apiFlags{}
	fs.StringVar(&f.api, "api", envOr(env, "AIPROD_API", APIDefault), "API base URL (AIPROD_API)")
	fs.StringVar(&f.key, "api-key", envOr(env, "AIPROD_API_KEY", APIKeyDefault), "API key (AIPROD_API_KEY)")
	return f
}

func (f *apiFlags) client() *client.Client { return client.New(f.api, f.key) }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// doAndPrint makes an API call whose answer is a T and prints the answer to
// stdout: as JSON with asJSON, else with print.
func doAndPrint[T any](ctx context.Context, env *Env, c *client.Client, method, path string, body []byte, asJSON bool, print func(io.Writer, T) error) error {
	var v T
	if err := c.Do(ctx, method, path, body, &v); err != nil {
		return err
	}
	if asJSON {
		return printJSON(env.Stdout, v)
	}
	return print(env.Stdout, v)
}

func init() {
	register(command{"submit", "[flags]", "submit a job (from flags or a JSON file) and optionally wait for it", runSubmit})
	register(command{"job", "<id>", "show a job", jobCommand("job", "Show a job as JSON.", (*client.Client).Get)})
	register(command{"jobs", "[flags]", "list and search jobs: status, backend, error code, user, time (admin: any project)", runJobs})
	register(command{"trace", "<id>", "show a job's timeline: stages, attempts, backends, errors, trace ids", runTrace})
	register(command{"cancel", "<id>", "cancel a job", jobCommand("cancel",
		"Cancel a job; a job already submitted is canceled at its backend too.", (*client.Client).Cancel)})
	register(command{"backends", "[flags]", "list backends with health, circuit state and prices", runBackends})
}

func runSubmit(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "submit", "[flags]", "Submit a job. With --file, the JSON request is sent as is; otherwise it is built from the flags.")
	af := addAPIFlags(fs, env)
	sf := addSubmitFlags(fs)
	wait := fs.Bool("wait", false, "wait until the job is finished, printing each status change")
	timeout := fs.Duration("timeout", 10*time.Minute, "with --wait: give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	c := af.client()
	j, err := sf.submit(ctx, env, fs, c)
	if err != nil {
		return err
	}
	if !*wait {
		return printJSON(env.Stdout, j)
	}
	fmt.Fprintf(env.Stderr, "job %s accepted (trace %s)\n", j.ID, j.TraceID)
	return waitForJob(ctx, env, c, j.ID, *timeout)
}

// submitFlags are the flags of submit that make the job request.
type submitFlags struct {
	file, prompt, resolution, aspect, tier, image string
	maxCost, backends, user, key                  string
	duration, deadline                            int
	audio                                         bool
}

func addSubmitFlags(fs *flag.FlagSet) *submitFlags {
	f := &submitFlags{}
	fs.StringVar(&f.file, "file", "", "JSON job request to send (- for standard input)")
	fs.StringVar(&f.prompt, "prompt", "", "text prompt (required without --file)")
	fs.IntVar(&f.duration, "duration", 5, "duration in seconds (1-60)")
	fs.StringVar(&f.resolution, "resolution", "", "540p, 720p, 1080p or 4k (default 720p)")
	fs.StringVar(&f.aspect, "aspect-ratio", "", "16:9, 9:16 or 1:1 (default 16:9)")
	fs.StringVar(&f.tier, "tier", "", "quality tier: draft, standard or premium (default standard)")
	fs.StringVar(&f.image, "image-url", "", "first frame, for image-to-video")
	fs.BoolVar(&f.audio, "audio", false, "generate audio")
	fs.StringVar(&f.maxCost, "max-cost-usd", "", "refuse backends whose estimate is above this")
	fs.IntVar(&f.deadline, "deadline-seconds", 0, "want the video within this many seconds of acceptance (60-86400; 0: the tier's default)")
	fs.StringVar(&f.backends, "backends", "", "comma-separated allow-list of backends")
	fs.StringVar(&f.user, "user", "", "user id within the project")
	fs.StringVar(&f.key, "idempotency-key", "", "Idempotency-Key: the same key gives the same job")
	return f
}

// submit sends the request of --file as is, or the one the flags make.
func (f *submitFlags) submit(ctx context.Context, env *Env, fs *flag.FlagSet, c *client.Client) (*client.Job, error) {
	opts := client.SubmitOptions{IdempotencyKey: f.key}
	if f.file != "" {
		b, err := f.readFile(env)
		if err != nil {
			return nil, err
		}
		return c.SubmitRaw(ctx, b, opts)
	}
	if strings.TrimSpace(f.prompt) == "" {
		fmt.Fprintln(env.Stderr, "aiprod submit: --prompt is required (or give --file)")
		fs.Usage()
		return nil, errUsage
	}
	req, err := f.request()
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, req, opts)
}

func (f *submitFlags) readFile(env *Env) ([]byte, error) {
	if f.file == "-" {
		return io.ReadAll(env.Stdin)
	}
	return os.ReadFile(f.file)
}

func (f *submitFlags) request() (job.Request, error) {
	req := job.Request{Prompt: f.prompt, DurationSeconds: f.duration, Resolution: job.Resolution(f.resolution),
		AspectRatio: job.AspectRatio(f.aspect), QualityTier: job.Tier(f.tier), ImageURL: f.image, Audio: f.audio, UserID: f.user}
	if f.maxCost != "" {
		m, err := money.Parse(f.maxCost)
		if err != nil {
			return job.Request{}, fmt.Errorf("--max-cost-usd: %w", err)
		}
		req.MaxCostUSD = &m
	}
	if f.backends != "" {
		req.Backends = strings.Split(f.backends, ",")
	}
	if f.deadline != 0 {
		req.DeadlineSeconds = &f.deadline
	}
	return req, nil
}

// waitForJob prints each status change of job id to stderr until it is
// finished or timeout passes, then the job as JSON; a job that did not
// succeed is an error.
func waitForJob(ctx context.Context, env *Env, c *client.Client, id string, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	final, err := c.Wait(wctx, id, 500*time.Millisecond, func(j *client.Job) {
		line := fmt.Sprintf("%6.1fs  %-10s", time.Since(start).Seconds(), j.Status)
		if j.Backend != "" {
			line += " backend=" + j.Backend
		}
		if j.Status == job.StatusDispatched && j.EstimatedCost > 0 {
			line += " estimate=" + j.EstimatedCost.String()
		}
		fmt.Fprintln(env.Stderr, line)
	})
	if err != nil {
		return fmt.Errorf("waiting for job %s: %w", id, err)
	}
	if err := printJSON(env.Stdout, final); err != nil {
		return err
	}
	if final.Status != job.StatusSucceeded {
		return fmt.Errorf("job %s ended %s", final.ID, final.Status)
	}
	return nil
}

func oneID(env *Env, name, summary string, args []string) (*apiFlags, string, error) {
	fs := newFlags(env, name, "<job id>", summary)
	af := addAPIFlags(fs, env)
	if err := parse(fs, args); err != nil {
		return nil, "", err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return nil, "", errUsage
	}
	return af, fs.Arg(0), nil
}

// jobCommand returns the run function of a command that applies do to the
// job named by its one argument and prints the job as JSON.
func jobCommand(name, summary string, do func(c *client.Client, ctx context.Context, id string) (*client.Job, error)) func(context.Context, *Env, []string) error {
	return func(ctx context.Context, env *Env, args []string) error {
		af, id, err := oneID(env, name, summary, args)
		if err != nil {
			return err
		}
		j, err := do(af.client(), ctx, id)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, j)
	}
}

func runBackends(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "backends", "[flags]", "List backends with enabled flag, circuit state, failures and endpoint.")
	af := addAPIFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON (with capabilities and prices)")
	if err := parse(fs, args); err != nil {
		return err
	}
	bs, err := af.client().Backends(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.Stdout, map[string]any{"backends": bs})
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tENABLED\tCIRCUIT\tFAILURES\tSUCCESS\tP50\tP95\tSAMPLES\tANOMALIES\tENDPOINT\tLAST_ERROR")
	for _, b := range bs {
		var st client.BackendStats
		if b.Stats != nil {
			st = *b.Stats
		}
		anomalies := "-"
		if len(st.Anomalies) > 0 {
			names := make([]string, len(st.Anomalies))
			for i, a := range st.Anomalies {
				names[i] = a.Signal
			}
			anomalies = strings.Join(names, ",")
		}
		fmt.Fprintf(tw, "%s\t%t\t%s\t%d\t%.1f%%\t%gs\t%gs\t%d\t%s\t%s\t%s\n", b.Name, b.Enabled, b.Circuit, b.ConsecutiveFailures,
			100*st.SuccessRate, st.P50Seconds, st.P95Seconds, st.Samples, anomalies, b.Endpoint, b.LastError)
	}
	return tw.Flush()
}
