// Package cli is the aiprod command: the local dev stack, the emulators, and
// subcommands that talk to the HTTP API (submit, job, jobs, trace, cancel,
// backends, loadtest, and, with the admin key, dlq and keys).
//
// # Configuration
//
// API subcommands read --api (or AIPROD_API, default http://127.0.0.1:8080)
// and --api-key (or AIPROD_API_KEY, default dev-key, the dev stack's key).
// Exit status: 0 success, 1 failure (the API's error is printed), 2 usage.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// Env is what a command sees of its process.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Getenv         func(string) string
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, env *Env, args []string) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

// errUsage is returned by commands for a usage problem already printed.
var errUsage = errors.New("usage")

// Main runs the aiprod command with args (without the program name) and
// returns the exit status.
func Main(ctx context.Context, args []string, env *Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Stdin == nil {
		env.Stdin = os.Stdin
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, env, args[1:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			default:
				fmt.Fprintln(env.Stderr, "aiprod "+c.name+": "+err.Error())
				return 1
			}
		}
	}
	fmt.Fprintf(env.Stderr, "aiprod: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `aiprod turns requests for AI video into finished videos at the lowest cost
that meets the requested quality.

Usage: aiprod <command> [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
API commands use --api (AIPROD_API, default http://127.0.0.1:8080) and
--api-key (AIPROD_API_KEY, default dev-key). Run 'aiprod <command> --help'
for a command's flags.
`)
}

// newFlags returns a flag set that prints the command's help to env.Stderr.
func newFlags(env *Env, name, args, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: aiprod %s %s\n\n%s\n", name, args, summary)
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(env.Stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses flags, mapping parse errors to errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// parseNoArgs is parse for commands that take no arguments: it refuses any,
// printing the command's help.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	return nil
}

// withQuery returns path with the non-empty params as its query string.
func withQuery(path string, params map[string]string) string {
	q := url.Values{}
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

func envOr(env *Env, key, def string) string {
	if v := strings.TrimSpace(env.Getenv(key)); v != "" {
		return v
	}
	return def
}
