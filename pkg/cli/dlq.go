package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/devstack"
)

func init() {
	register(command{"dlq", "list|replay [flags]", "list and replay dead-lettered messages (admin key)", runDLQ})
}

const dlqUsage = `Usage: aiprod dlq <list|replay> [flags]

Inspect and replay the messages AIPROD's services could not handle: each
subscription's dead-letter subscription (aiprod-jobs-dlq,
aiprod-events-dlq, aiprod-dispatch-<backend>-dlq). Both talk to the admin
routes of the API with --admin-key (AIPROD_ADMIN_KEY, default dev-admin).

  aiprod dlq list   [--subscription S] [--max N] [--json]
        show dead letters without consuming them: id, subscription, reason,
        publish time and the start of the data (all subscriptions when
        --subscription is not given)
  aiprod dlq replay --subscription S (--id ID ... | --all) [--max N]
        publish messages again to the topic they came from and remove them
        from the dead-letter subscription; safe, every stage is idempotent.
        The router does it for the API; if it has not within 20 s the
        command says so and exits 1 (the replay stays queued)

Run 'aiprod dlq <list|replay> --help' for the flags.
`

func runDLQ(ctx context.Context, env *Env, args []string) error {
	return runSubcommand(ctx, env, "dlq", dlqUsage, args, map[string]func(context.Context, *Env, []string) error{
		"list": runDLQList, "replay": runDLQReplay,
	})
}

// runSubcommand runs the subcommand of command name that args[0] names,
// printing usage for none, help or an unknown one.
func runSubcommand(ctx context.Context, env *Env, name, usage string, args []string,
	subs map[string]func(context.Context, *Env, []string) error) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return errUsage
	}
	if run, ok := subs[args[0]]; ok {
		return run(ctx, env, args[1:])
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	fmt.Fprintf(env.Stderr, "aiprod %s: unknown subcommand %q\n\n%s", name, args[0], usage)
	return errUsage
}

type adminFlags struct{ api, key string }

func addAdminFlags(fs *flag.FlagSet, env *Env) *adminFlags {
	f := &adminFlags{}
	fs.StringVar(&f.api, "api", envOr(env, "AIPROD_API", APIDefault), "API base URL (AIPROD_API)")
	fs.StringVar(&f.key, "admin-key", envOr(env, "AIPROD_ADMIN_KEY", devstack.AdminKeyDefault), "admin key (AIPROD_ADMIN_KEY)")
	return f
}

func (f *adminFlags) client() *client.Client { return client.New(f.api, f.key) }

func runDLQList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "dlq list", "[flags]",
		"List dead-lettered messages without consuming them (listing counts as a delivery; see package deadletter).")
	af := addAdminFlags(fs, env)
	sub := fs.String("subscription", "", "a dead-letter subscription, e.g. aiprod-jobs-dlq (default: all of them)")
	max := fs.Int("max", api.DeadLetterListMaxDefault, fmt.Sprintf("at most this many messages (1-%d)", api.DeadLetterMaxLimit))
	asJSON := fs.Bool("json", false, "print JSON, with whole data and attributes")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	path := withQuery("/v1/admin/dlq", map[string]string{"subscription": *sub, "max": strconv.Itoa(*max)})
	var l api.DeadLetterList
	if err := af.client().Do(ctx, http.MethodGet, path, nil, &l); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.Stdout, l)
	}
	if len(l.Messages) == 0 {
		fmt.Fprintf(env.Stderr, "no dead letters in %s\n", strings.Join(l.Subscriptions, ", "))
		return nil
	}
	return printDeadLetters(env.Stdout, l.Messages)
}

func printDeadLetters(w io.Writer, ms []api.DeadLetterView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSUBSCRIPTION\tREASON\tPUBLISHED\tDATA")
	for _, m := range ms {
		data := m.Data
		if m.DataBase64 {
			data = "base64:" + data
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, m.Subscription, cell(m.Reason, 60),
			m.PublishTime.Format(time.RFC3339), cell(data, 40))
	}
	return tw.Flush()
}

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	if v == "" {
		return fmt.Errorf("must not be empty")
	}
	*l = append(*l, v)
	return nil
}

func runDLQReplay(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "dlq replay", "--subscription S (--id ID ... | --all) [flags]",
		"Publish dead letters again to the topic they came from, without their dead-letter attributes, and remove\n"+
			"them from the dead-letter subscription. Safe: every stage of AIPROD is idempotent.")
	af := addAdminFlags(fs, env)
	sub := fs.String("subscription", "", "the dead-letter subscription, e.g. aiprod-jobs-dlq (required)")
	var ids stringList
	fs.Var(&ids, "id", "id of a message to replay, from 'aiprod dlq list' (repeatable)")
	all := fs.Bool("all", false, "replay every message of the subscription (up to --max)")
	max := fs.Int("max", 0, fmt.Sprintf("examine at most this many messages (1-%d; default %d, or the number of ids when more)",
		api.DeadLetterMaxLimit, api.DeadLetterReplayMaxDefault))
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		fs.Usage()
		return errUsage
	case *sub == "":
		fmt.Fprintln(env.Stderr, "aiprod dlq replay: --subscription is required")
		fs.Usage()
		return errUsage
	case *all == (len(ids) > 0):
		fmt.Fprintln(env.Stderr, "aiprod dlq replay: give either --id (one or more) or --all")
		fs.Usage()
		return errUsage
	}
	body, err := json.Marshal(api.DeadLetterReplayRequest{Subscription: *sub, IDs: ids, Max: *max})
	if err != nil {
		return err
	}
	var res api.DeadLetterReplayResult
	if err := af.client().Do(ctx, http.MethodPost, "/v1/admin/dlq/replay", body, &res); err != nil {
		return err
	}
	if res.Pending {
		fmt.Fprintf(env.Stdout, "replay of %s requested (request %s), not carried out yet\n", *sub, res.RequestID)
		return fmt.Errorf("replay not confirmed: the router replays it when it can ('aiprod dlq list' shows what is left)")
	}
	fmt.Fprintf(env.Stdout, "replayed %d message(s) from %s\n", res.Replayed, *sub)
	for _, id := range res.IDs {
		fmt.Fprintln(env.Stdout, "  "+id)
	}
	if len(res.NotFound) > 0 {
		return fmt.Errorf("not found: %s (absent, already replayed, or waiting out a retry backoff after a recent listing: try again in a minute)",
			strings.Join(res.NotFound, ", "))
	}
	return nil
}
