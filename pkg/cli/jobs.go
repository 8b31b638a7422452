package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aiprod/aiprod/pkg/client"
)

const jobsSummary = `List the project's jobs, newest first, or search them: the filters AND
together. With --project or --all-projects the search goes through the
admin route (GET /v1/admin/jobs) with --admin-key, over that project or
every project: the failed-job search of operators.

--since and --until bound the creation time (since inclusive, until
exclusive): a duration ago (90s, 30m, 1h30m, 7d) or an RFC 3339 time
(2026-11-25T12:00:00Z). Example:

  aiprod jobs --status failed --backend fal --code backend_failed --since 1h`

// Widths of the table's truncated columns, in characters.
const (
	promptWidth = 40
	errorWidth  = 60
)

func runJobs(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "jobs", "[flags]", jobsSummary)
	af := addAPIFlags(fs, env)
	adminKey := addAdminKeyFlag(fs, env)
	var o client.ListOptions
	fs.StringVar((*string)(&o.Status), "status", "", "only jobs in this status: queued, dispatched, running, succeeded, failed, canceled")
	fs.StringVar(&o.Backend, "backend", "", "only jobs whose latest attempt ran on this backend")
	fs.StringVar(&o.ErrorCode, "code", "", "only jobs with this error code, e.g. backend_failed, no_backend, timeout")
	fs.StringVar(&o.UserID, "user", "", "only jobs of this user id")
	fs.Var(timeArg{t: &o.Since, now: time.Now}, "since", "only jobs created at or after `time`: a duration ago (30m, 1h, 7d) or an RFC 3339 time")
	fs.Var(timeArg{t: &o.Until, now: time.Now}, "until", "only jobs created before `time`: a duration ago or an RFC 3339 time")
	fs.IntVar(&o.Limit, "limit", 20, "jobs per page (1-500)")
	fs.StringVar(&o.PageToken, "page-token", "", "page token from a previous listing")
	project := fs.String("project", "", "search this project's jobs (admin route, --admin-key)")
	all := fs.Bool("all-projects", false, "search every project's jobs (admin route, --admin-key)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *project != "" && *all {
		fmt.Fprintln(env.Stderr, "aiprod jobs: --project and --all-projects are exclusive")
		return errUsage
	}
	admin := *project != "" || *all
	var p *client.JobList
	var err error
	if admin {
		p, err = client.New(af.api, *adminKey).AdminListJobs(ctx, *project, o)
	} else {
		p, err = af.client().ListJobs(ctx, o)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.Stdout, p)
	}
	if err := printJobs(env.Stdout, p.Jobs, admin); err != nil {
		return err
	}
	if p.NextPageToken != "" {
		fmt.Fprintf(env.Stderr, "more: run the same command with --page-token %s\n", p.NextPageToken)
	}
	return nil
}

// printJobs prints jobs as a table; withProject adds the PROJECT column.
// ERROR is the job's error as "code: message", truncated.
func printJobs(w io.Writer, jobs []client.Job, withProject bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	project := func(s string) string {
		if withProject {
			return s + "\t"
		}
		return ""
	}
	fmt.Fprintln(tw, "ID\t"+project("PROJECT")+"STATUS\tBACKEND\tCOST_USD\tCREATED\tPROMPT\tERROR")
	for _, j := range jobs {
		errText := ""
		if j.Error != nil {
			errText = j.Error.Code + ": " + j.Error.Message
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, project(j.ProjectID), j.Status, j.Backend, j.Cost.USD(),
			j.CreatedAt.Format(time.RFC3339), cell(j.Request.Prompt, promptWidth), cell(errText, errorWidth))
	}
	return tw.Flush()
}

// cell is s on one line (runs of white space, tabs and newlines included,
// become one space) and at most width characters, the last one "…" when
// it was cut.
func cell(s string, width int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) <= width {
		return string(r)
	}
	return string(r[:width-1]) + "…"
}

// timeArg is the flag.Value of --since and --until (parseTimeArg), a
// duration ago counted from now() when the flag is parsed.
type timeArg struct {
	t   *time.Time
	now func() time.Time
}

func (a timeArg) String() string {
	if a.t == nil || a.t.IsZero() {
		return ""
	}
	return a.t.Format(time.RFC3339)
}

func (a timeArg) Set(v string) error {
	t, err := parseTimeArg(v, a.now())
	if err != nil {
		return err
	}
	*a.t = t
	return nil
}

// maxDaysAgo bounds a duration ago given in days.
const maxDaysAgo = 100 * 365

// parseTimeArg reads an RFC 3339 time, or a duration ago from now: a Go
// duration (90s, 30m, 1h30m) or whole days (7d), not negative.
func parseTimeArg(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if n, ok := strings.CutSuffix(v, "d"); ok && err != nil {
		if days, derr := strconv.Atoi(n); derr == nil && days >= 0 && days <= maxDaysAgo {
			d, err = time.Duration(days)*24*time.Hour, nil
		}
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither a duration ago (30m, 1h, 7d) nor an RFC 3339 time (2026-11-25T12:00:00Z)", v)
	}
	return now.Add(-d), nil
}
