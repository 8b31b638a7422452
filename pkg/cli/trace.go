package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/aiprod/aiprod/pkg/client"
)

// scopeAIPROD is the instrumentation scope of AIPROD's own spans; the
// others are the client libraries' (gRPC calls to Pub/Sub and Firestore).
const scopeAIPROD = "github.com/aiprod/aiprod"

// runTrace is `aiprod trace <id>`: the job's timeline from the store and,
// where the stack keeps spans (aiprod dev), the waterfall of its trace.
func runTrace(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "trace", "<job id> [flags]", "Show a job's timeline (every stage, attempt, backend and error with "+
		"trace and span ids) and, on a stack that keeps spans (aiprod dev), the waterfall of its trace: service, span, "+
		"backend, start offset, duration, status and error.")
	af := addAPIFlags(fs, env)
	asJSON := fs.Bool("json", false, `print {"job", "events", "spans"} as JSON`)
	all := fs.Bool("all", false, "also show the client libraries' spans (gRPC calls to Pub/Sub and Firestore)")
	id, err := parseOneArg(fs, args)
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
	spans, err := c.Spans(ctx, id)
	switch {
	case client.IsNotFound(err):
		spans = nil // this stack keeps no spans: the timeline only
	case err != nil:
		return err
	}
	if !*all {
		spans = slices.DeleteFunc(spans, func(s client.Span) bool { return s.Scope != scopeAIPROD })
	}
	if *asJSON {
		return printJSON(env.Stdout, map[string]any{"job": j, "events": evs, "spans": spans})
	}
	fmt.Fprintf(env.Stdout, "job %s  status %s  trace %s\n\n", j.ID, j.Status, j.TraceID)
	if err := printTimeline(env.Stdout, evs); err != nil {
		return err
	}
	if len(spans) > 0 {
		fmt.Fprintln(env.Stdout)
		return printWaterfall(env.Stdout, spans)
	}
	return nil
}

// parseOneArg parses flags given before or after the one argument.
func parseOneArg(fs *flag.FlagSet, args []string) (string, error) {
	var arg string
	for {
		if err := parse(fs, args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		if arg != "" {
			fs.Usage()
			return "", errUsage
		}
		arg, args = fs.Arg(0), fs.Args()[1:]
	}
	if arg == "" {
		fs.Usage()
		return "", errUsage
	}
	return arg, nil
}

func printTimeline(w io.Writer, evs []client.Event) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
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

// printWaterfall prints spans (by start time) with their offset from the
// first one, indented by depth in the trace.
func printWaterfall(w io.Writer, spans []client.Span) error {
	depth := spanDepths(spans)
	start := spans[0].Start
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OFFSET\tDURATION\tSPAN\tBACKEND\tSTATUS\tERROR")
	for _, s := range spans {
		backend := s.Attributes["aiprod.backend"]
		if backend == "" {
			backend = s.Attributes["aiprod.provider"]
		}
		indent := ""
		for range min(depth[s.SpanID], 12) {
			indent += "  "
		}
		fmt.Fprintf(tw, "+%s\t%s\t%s%s\t%s\t%s\t%s\n", s.Start.Sub(start).Round(time.Millisecond),
			s.End.Sub(s.Start).Round(time.Millisecond), indent, s.Name, backend, s.Status, cell(s.Error, 60))
	}
	return tw.Flush()
}

// spanDepths returns each span's depth below the trace's root (a span whose
// parent is not among spans is a root).
func spanDepths(spans []client.Span) map[string]int {
	parent := make(map[string]string, len(spans))
	for _, s := range spans {
		parent[s.SpanID] = s.ParentSpanID
	}
	depth := make(map[string]int, len(spans))
	for _, s := range spans {
		d := 0
		for p := parent[s.SpanID]; p != "" && d < len(spans); p = parent[p] {
			if _, known := parent[p]; !known {
				break
			}
			d++
		}
		depth[s.SpanID] = d
	}
	return depth
}
