package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/money"
)

func init() {
	register(command{"usage", "[flags] | reconcile [flags]", "show the project's cost, jobs and success rate; reconcile the ledger", runUsage})
	register(command{"budget", "[flags] | set [flags]", "show the project's budget; set a project's budget (admin)", runBudget})
}

// addAdminKeyFlag adds --admin-key (AIPROD_ADMIN_KEY, default the dev
// stack's admin key).
func addAdminKeyFlag(fs *flag.FlagSet, env *Env) *string {
	return fs.String("admin-key", envOr(env, "AIPROD_ADMIN_KEY", devstack.AdminKeyDefault), "admin key (AIPROD_ADMIN_KEY)")
}

func runUsage(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "reconcile" {
		return runReconcile(ctx, env, args[1:])
	}
	fs := newFlags(env, "usage", "[flags]",
		"Show the project's settled cost, jobs and success rate from the ledger, grouped.\n"+
			"From and to are RFC 3339 times or dates (a date as --to includes that day); default: this month.\n"+
			"'aiprod usage reconcile --help' checks the ledger against jobs and budgets.")
	af := addAPIFlags(fs, env)
	from := fs.String("from", "", "start of the range (inclusive)")
	to := fs.String("to", "", "end of the range (exclusive; a date includes that day)")
	groupBy := fs.String("group-by", "backend", "backend, user or day")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	path := withQuery("/v1/usage", map[string]string{"from": *from, "to": *to, "group_by": *groupBy})
	return doAndPrint(ctx, env, af.client(), http.MethodGet, path, nil, *asJSON, printUsage)
}

// printUsage writes usage as a table with a total line.
func printUsage(w io.Writer, u api.Usage) error {
	fmt.Fprintf(w, "usage from %s to %s by %s\n\n", u.From.Format("2006-01-02 15:04"), u.To.Format("2006-01-02 15:04"), u.GroupBy)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.ToUpper(string(u.GroupBy))+"\tJOBS\tSUCCEEDED\tFAILED\tSUCCESS_RATE\tCOST_USD\t")
	var all budget.UsageGroup
	for _, g := range u.Groups {
		key := g.Key
		if key == "" {
			key = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t\n", key, g.Jobs, g.Succeeded, g.Failed, rate(g), g.Cost.USD())
		all.Jobs += g.Jobs
		all.Succeeded += g.Succeeded
		all.Failed += g.Failed
	}
	all.Cost = u.TotalCost
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t\n", "TOTAL", all.Jobs, all.Succeeded, all.Failed, rate(all), all.Cost.USD())
	return tw.Flush()
}

func rate(g budget.UsageGroup) string {
	if g.Jobs == 0 {
		return "-"
	}
	return fmt.Sprintf("%d%%", g.SuccessRate())
}

func runReconcile(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "usage reconcile", "[flags]",
		"Check one month of a project: ledger total = sum of attempt costs = budget spent, and budget reserved =\n"+
			"open reservations (per user too). Prints every difference; exit status 1 when there is any.\n"+
			"Run it when the project is quiet: jobs in flight may show as transient differences.")
	af := addAPIFlags(fs, env)
	admin := addAdminKeyFlag(fs, env)
	project := fs.String("project", devstack.ProjectDefault, "project to check")
	period := fs.String("period", "", "month as yyyy-mm (default: this month)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	path := withQuery("/v1/admin/reconcile", map[string]string{"project": *project, "period": *period})
	var rep budget.Report
	if err := client.New(af.api, *admin).Do(ctx, http.MethodGet, path, nil, &rep); err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(env.Stdout, rep); err != nil {
			return err
		}
	} else {
		printReport(env.Stdout, rep)
	}
	if n := len(rep.Differences); n > 0 {
		return fmt.Errorf("%d difference(s) in %s of project %s", n, rep.Period, rep.ProjectID)
	}
	return nil
}

func printReport(w io.Writer, rep budget.Report) {
	fmt.Fprintf(w, "project %s, %s\n", rep.ProjectID, rep.Period)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  ledger entries\t%d\n", rep.LedgerEntries)
	fmt.Fprintf(tw, "  ledger total\t%s\n", rep.LedgerTotal)
	fmt.Fprintf(tw, "  job costs\t%s\n", rep.JobsCost)
	fmt.Fprintf(tw, "  budget spent\t%s\n", rep.Spent)
	fmt.Fprintf(tw, "  budget reserved\t%s\n", rep.Reserved)
	fmt.Fprintf(tw, "  open reservations\t%s\n", rep.OpenReservations)
	_ = tw.Flush()
	if len(rep.Differences) == 0 {
		fmt.Fprintln(w, "\nno differences")
		return
	}
	fmt.Fprintf(w, "\n%d difference(s):\n", len(rep.Differences))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tJOB\tATTEMPT\tUSER\tEXPECTED\tACTUAL\tMESSAGE")
	for _, d := range rep.Differences {
		att := ""
		if d.Attempt > 0 {
			att = fmt.Sprint(d.Attempt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Kind, d.JobID, att, d.UserID, d.Expected, d.Actual, d.Message)
	}
	_ = tw.Flush()
}

func runBudget(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "set" {
		return runBudgetSet(ctx, env, args[1:])
	}
	fs := newFlags(env, "budget", "[flags]",
		"Show the project's budget: monthly limit, spent and reserved, per user too.\n"+
			"'aiprod budget set --help' sets a project's budget (admin key).")
	af := addAPIFlags(fs, env)
	period := fs.String("period", "", "month as yyyy-mm (default: this month)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	path := withQuery("/v1/budget", map[string]string{"period": *period})
	return doAndPrint(ctx, env, af.client(), http.MethodGet, path, nil, *asJSON, printBudget)
}

func printBudget(w io.Writer, v api.BudgetView) error {
	limitOf := func(l *money.Micros) string {
		if l == nil {
			return "none"
		}
		return l.USD()
	}
	left := func(l *money.Micros, spent, reserved money.Micros) string {
		if l == nil {
			return "-"
		}
		return (*l - spent - reserved).USD()
	}
	fmt.Fprintf(w, "project %s, %s\n\n", v.ProjectID, v.Period)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tLIMIT_USD\tSPENT_USD\tRESERVED_USD\tLEFT_USD\t")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", "project", limitOf(v.Limit), v.Spent.USD(), v.Reserved.USD(), left(v.Limit, v.Spent, v.Reserved))
	for _, name := range slices.Sorted(maps.Keys(v.Users)) {
		u := v.Users[name]
		fmt.Fprintf(tw, "user %s\t%s\t%s\t%s\t%s\t\n", name, limitOf(u.Limit), u.Spent.USD(), u.Reserved.USD(), left(u.Limit, u.Spent, u.Reserved))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.LimitSource == budget.LimitFromDefault {
		_, err := fmt.Fprintln(w, "\nThe project has no budget of its own: its limit is the default of the services\n"+
			"(AIPROD_DEFAULT_MONTHLY_LIMIT_USD). 'aiprod budget set' gives it one.")
		return err
	}
	return nil
}

// userLimits is the repeatable --user flag: user=usd.
type userLimits map[string]json.RawMessage

func (u userLimits) String() string { return "" }

func (u userLimits) Set(s string) error {
	name, amount, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return errors.New("want user=usd, e.g. alice=10")
	}
	m, err := money.Parse(amount)
	if err != nil {
		return err
	}
	u[name] = json.RawMessage(m.USD())
	return nil
}

func runBudgetSet(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "budget set", "--project P --monthly-limit-usd N [--user alice=10 ...] [--default-user-limit-usd N]",
		"Set a project's monthly budget (replacing its user limits), with the admin key.\n"+
			"--monthly-limit-usd none removes the limit. --default-user-limit-usd caps every user without\n"+
			"a limit of their own (an unknown or re-spelled user id included).")
	af := addAPIFlags(fs, env)
	admin := addAdminKeyFlag(fs, env)
	project := fs.String("project", devstack.ProjectDefault, "project")
	limit := fs.String("monthly-limit-usd", "", "monthly limit in USD, or none (required)")
	users := userLimits{}
	fs.Var(users, "user", "a user's monthly limit as user=usd (repeatable)")
	defaultUser := fs.String("default-user-limit-usd", "", "monthly limit in USD of every user without a --user limit")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit == "" || fs.NArg() > 0 {
		fmt.Fprintln(env.Stderr, "aiprod budget set: --monthly-limit-usd is required (none for no limit)")
		fs.Usage()
		return errUsage
	}
	body := map[string]any{"monthly_limit_usd": nil}
	if *limit != "none" {
		if err := setUSD(body, "monthly_limit_usd", "--monthly-limit-usd", *limit); err != nil {
			return err
		}
	}
	if len(users) > 0 {
		body["users"] = users
	}
	if *defaultUser != "" {
		if err := setUSD(body, "default_user_limit_usd", "--default-user-limit-usd", *defaultUser); err != nil {
			return err
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	path := "/v1/admin/projects/" + url.PathEscape(*project) + "/budget"
	return doAndPrint(ctx, env, client.New(af.api, *admin), http.MethodPut, path, b, *asJSON, printBudget)
}

// setUSD sets body[field] to the exact amount of USD that flag's value
// gives, or says what is wrong with it.
func setUSD(body map[string]any, field, flag, value string) error {
	m, err := money.Parse(value)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	body[field] = json.RawMessage(m.USD())
	return nil
}
