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

func init() {
	register(command{"submit", "[flags]", "submit a job (from flags or a JSON file) and optionally wait for it", runSubmit})
	register(command{"job", "<id>", "show a job", runJob})
	register(command{"jobs", "[flags]", "list the project's jobs, newest first", runJobs})
	register(command{"trace", "<id>", "show a job's timeline: stages, attempts, backends, errors, trace ids", runTrace})
	register(command{"cancel", "<id>", "cancel a job", runCancel})
	register(command{"backends", "[flags]", "list backends with health, circuit state and prices", runBackends})
}

func runSubmit(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "submit", "[flags]", "Submit a job. With --file, the JSON request is sent as is; otherwise it is built from the flags.")
	af := addAPIFlags(fs, env)
	file := fs.String("file", "", "JSON job request to send (- for standard input)")
	prompt := fs.String("prompt", "", "text prompt (required without --file)")
	duration := fs.Int("duration", 5, "duration in seconds (1-60)")
	resolution := fs.String("resolution", "", "540p, 720p, 1080p or 4k (default 720p)")
	aspect := fs.String("aspect-ratio", "", "16:9, 9:16 or 1:1 (default 16:9)")
	tier := fs.String("tier", "", "quality tier: draft, standard or premium (default standard)")
	image := fs.String("image-url", "", "first frame, for image-to-video")
	audio := fs.Bool("audio", false, "generate audio")
	maxCost := fs.String("max-cost-usd", "", "refuse backends whose estimate is above this")
	backends := fs.String("backends", "", "comma-separated allow-list of backends")
	user := fs.String("user", "", "user id within the project")
	key := fs.String("idempotency-key", "", "Idempotency-Key: the same key gives the same job")
	wait := fs.Bool("wait", false, "wait until the job is finished, printing each status change")
	timeout := fs.Duration("timeout", 10*time.Minute, "with --wait: give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	c := af.client()
	var j *job.Job
	var err error
	opts := client.SubmitOptions{IdempotencyKey: *key}
	if *file != "" {
		var b []byte
		if *file == "-" {
			b, err = io.ReadAll(env.Stdin)
		} else {
			b, err = os.ReadFile(*file)
		}
		if err != nil {
			return err
		}
		j, err = c.SubmitRaw(ctx, b, opts)
	} else {
		if strings.TrimSpace(*prompt) == "" {
			fmt.Fprintln(env.Stderr, "aiprod submit: --prompt is required (or give --file)")
			fs.Usage()
			return errUsage
		}
		req := job.Request{Prompt: *prompt, DurationSeconds: *duration, Resolution: job.Resolution(*resolution),
			AspectRatio: job.AspectRatio(*aspect), QualityTier: job.Tier(*tier), ImageURL: *image, Audio: *audio, UserID: *user}
		if *maxCost != "" {
			m, perr := money.Parse(*maxCost)
			if perr != nil {
				return fmt.Errorf("--max-cost-usd: %w", perr)
			}
			req.MaxCostUSD = &m
		}
		if *backends != "" {
			req.Backends = strings.Split(*backends, ",")
		}
		j, err = c.Submit(ctx, req, opts)
	}
	if err != nil {
		return err
	}
	if !*wait {
		return printJSON(env.Stdout, j)
	}
	fmt.Fprintf(env.Stderr, "job %s accepted (trace %s)\n", j.ID, j.TraceID)
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	final, err := c.Wait(wctx, j.ID, 500*time.Millisecond, func(j *job.Job) {
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
		return fmt.Errorf("waiting for job %s: %w", j.ID, err)
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

func runJob(ctx context.Context, env *Env, args []string) error {
	af, id, err := oneID(env, "job", "Show a job as JSON.", args)
	if err != nil {
		return err
	}
	j, err := af.client().Get(ctx, id)
	if err != nil {
		return err
	}
	return printJSON(env.Stdout, j)
}

func runCancel(ctx context.Context, env *Env, args []string) error {
	af, id, err := oneID(env, "cancel", "Cancel a job; a job already submitted is canceled at its backend too.", args)
	if err != nil {
		return err
	}
	j, err := af.client().Cancel(ctx, id)
	if err != nil {
		return err
	}
	return printJSON(env.Stdout, j)
}

func runTrace(ctx context.Context, env *Env, args []string) error {
	af, id, err := oneID(env, "trace", "Show a job's timeline: every stage, attempt, backend and error with trace and span ids.", args)
	if err != nil {
		return err
	}
	c := af.client()
	j, err := c.Get(ctx, id)
	if err != nil {
		return err
	}
	evs, err := c.Events(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "job %s  status %s  trace %s\n\n", j.ID, j.Status, j.TraceID)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tSTAGE\tTYPE\tBACKEND\tATTEMPT\tSPAN\tMESSAGE")
	for _, e := range evs {
		att := ""
		if e.Attempt > 0 {
			att = fmt.Sprint(e.Attempt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Format("15:04:05.000"), e.Stage, e.Type, e.Backend, att, e.SpanID, e.Message)
	}
	return tw.Flush()
}

func runJobs(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "jobs", "[flags]", "List the project's jobs, newest first.")
	af := addAPIFlags(fs, env)
	status := fs.String("status", "", "only jobs in this status")
	limit := fs.Int("limit", 20, "jobs per page (1-500)")
	page := fs.String("page-token", "", "page token from a previous listing")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := af.client().List(ctx, job.Status(*status), *limit, *page)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.Stdout, p)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tBACKEND\tCOST_USD\tCREATED\tPROMPT")
	for _, j := range p.Jobs {
		prompt := j.Request.Prompt
		if len([]rune(prompt)) > 40 {
			prompt = string([]rune(prompt)[:39]) + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Status, j.Backend, j.Cost.USD(), j.CreatedAt.Format(time.RFC3339), prompt)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.NextPageToken != "" {
		fmt.Fprintf(env.Stderr, "more: aiprod jobs --page-token %s\n", p.NextPageToken)
	}
	return nil
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
	fmt.Fprintln(tw, "NAME\tENABLED\tCIRCUIT\tFAILURES\tENDPOINT\tLAST_ERROR")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%t\t%s\t%d\t%s\t%s\n", b.Name, b.Enabled, b.Circuit, b.ConsecutiveFailures, b.Endpoint, b.LastError)
	}
	return tw.Flush()
}
