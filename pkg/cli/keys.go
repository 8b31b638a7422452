package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/devstack"
)

func init() {
	register(command{"keys", "list|create|revoke [flags]", "list, create and revoke a project's API keys (admin key)", runKeys})
}

const keysUsage = `Usage: aiprod keys <list|create|revoke> [flags]

Manage a project's API keys through the admin routes of the API, with
--admin-key (AIPROD_ADMIN_KEY, default dev-admin).

  aiprod keys list   --project P [--json]
        the project's keys: id, prefix, created, last used, expiry and
        status; never the key itself
  aiprod keys create --project P [--expires-in-days N] [--json]
        a new key, printed this once: store it now
  aiprod keys revoke --project P <key_id> [--json]
        the key answers 401 within 5 s on every instance of the API

Run 'aiprod keys <list|create|revoke> --help' for the flags.
`

func runKeys(ctx context.Context, env *Env, args []string) error {
	return runSubcommand(ctx, env, "keys", keysUsage, args, map[string]func(context.Context, *Env, []string) error{
		"list": runKeysList, "create": runKeysCreate, "revoke": runKeysRevoke,
	})
}

// keysPath is the admin route of project's keys, plus the optional key id.
func keysPath(project, id string) string {
	p := "/v1/admin/projects/" + url.PathEscape(project) + "/keys"
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return p
}

func runKeysList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "keys list", "--project P [flags]", "List a project's API keys (never the keys themselves).")
	af := addAdminFlags(fs, env)
	project := fs.String("project", devstack.ProjectDefault, "project")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	return doAndPrint(ctx, env, af.client(), http.MethodGet, keysPath(*project, ""), nil, *asJSON, printKeys)
}

// printKeys writes keys as a table; STATUS is active, revoked or expired.
func printKeys(w io.Writer, l api.KeyList) error {
	if len(l.Keys) == 0 {
		_, err := fmt.Fprintln(w, "no keys")
		return err
	}
	opt := func(t *time.Time, none string) string {
		if t == nil {
			return none
		}
		return t.Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPREFIX\tCREATED\tLAST_USED\tEXPIRES\tSTATUS")
	for _, k := range l.Keys {
		status := "active"
		switch {
		case k.Revoked:
			status = "revoked"
		case k.ExpiresAt != nil && !time.Now().Before(*k.ExpiresAt):
			status = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.CreatedAt.Format(time.RFC3339),
			opt(k.LastUsedAt, "never"), opt(k.ExpiresAt, "never"), status)
	}
	return tw.Flush()
}

func runKeysCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "keys create", "--project P [flags]",
		"Create an API key for a project. The key is printed this once; only its hash is stored.")
	af := addAdminFlags(fs, env)
	project := fs.String("project", devstack.ProjectDefault, "project")
	days := fs.Int("expires-in-days", 0, fmt.Sprintf("the key expires after this many days (1-%d; default: never)", api.MaxKeyLifetimeDays))
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	var body []byte
	if *days != 0 {
		body, _ = json.Marshal(map[string]int{"expires_in_days": *days}) // a map of ints always marshals
	}
	return doAndPrint(ctx, env, af.client(), http.MethodPost, keysPath(*project, ""), body, *asJSON,
		func(w io.Writer, k api.CreatedKey) error {
			expires := "never"
			if k.ExpiresAt != nil {
				expires = k.ExpiresAt.Format(time.RFC3339)
			}
			_, err := fmt.Fprintf(w, "%s\n\nproject %s, id %s, expires %s\nThe key is shown this once: store it now.\n",
				k.Key, k.ProjectID, k.ID, expires)
			return err
		})
}

func runKeysRevoke(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "keys revoke", "--project P <key_id>",
		"Revoke an API key (its id from 'aiprod keys list'): it answers 401 within 5 s on every instance of the API (at once on the one that revoked it).")
	af := addAdminFlags(fs, env)
	project := fs.String("project", devstack.ProjectDefault, "project")
	asJSON := fs.Bool("json", false, "print JSON")
	id, err := parseOneArg(fs, args)
	if err != nil {
		return err
	}
	return doAndPrint(ctx, env, af.client(), http.MethodDelete, keysPath(*project, id), nil, *asJSON,
		func(w io.Writer, k api.KeyView) error {
			_, err := fmt.Fprintf(w, "revoked key %s (%s) of project %s\n", k.ID, k.Prefix, *project)
			return err
		})
}
