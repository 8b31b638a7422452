package test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The browser the console's tests drive: AIPROD_CHROME, else the first of
// these on PATH.
var chromeNames = []string{"chromium", "chromium-browser", "google-chrome"}

// errNoChrome says how to get a browser; the browser tests fail with it
// (never skip: issue 16 wants them to run in `make test` everywhere).
var errNoChrome = errors.New("no Chromium or Chrome for the browser tests: set AIPROD_CHROME to one, " +
	"or install Debian's chromium package with `sudo make chromium` (or `sudo apt-get install chromium`); " +
	"`make test` (and .ci/run) installs it by itself when run as root")

// chromePath finds the browser: AIPROD_CHROME (a path or a name on PATH)
// when set, else chromium, chromium-browser or google-chrome on PATH.
func chromePath(lookPath func(string) (string, error), env string) (string, error) {
	if env != "" {
		p, err := lookPath(env)
		if err != nil {
			return "", fmt.Errorf("AIPROD_CHROME=%s: %w; %w", env, err, errNoChrome)
		}
		return p, nil
	}
	for _, name := range chromeNames {
		if p, err := lookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errNoChrome
}

// Size of the browser window: a laptop screen, and the console screenshot's.
const browserWidth, browserHeight = 1280, 900

// newBrowser starts a headless Chromium (a fresh user-data directory,
// --no-sandbox when running as root, which Chromium requires) and returns
// the context of its first tab. The browser is closed, its processes
// waited for and its directory removed when tb ends; timeout bounds
// everything done in it.
func newBrowser(tb testing.TB, timeout time.Duration) context.Context {
	tb.Helper()
	path, err := chromePath(exec.LookPath, os.Getenv("AIPROD_CHROME"))
	if err != nil {
		tb.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(browserWidth, browserHeight),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	tb.Cleanup(func() {
		// Close the browser gracefully, then make sure it is gone
		// (cancelAlloc kills it and waits) before TempDir is removed.
		closeCtx, c := context.WithTimeout(tabCtx, 10*time.Second)
		defer c()
		_ = chromedp.Cancel(closeCtx)
		cancelTab()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(tabCtx); err != nil { // start it now: fail here, not in the first step
		tb.Fatalf("start %s: %v", path, err)
	}
	return tabCtx
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](tb testing.TB, ctx context.Context, expr string) T {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// pollFor waits (on every DOM mutation, at most 15 s) until the JavaScript
// expression is truthy and returns its value. On timeout it fails tb with
// what the page shows: its ready view and any error alerts.
func pollFor[T any](tb testing.TB, ctx context.Context, what, expr string) T {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingMutation(),
		chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](pageState))
		tb.Fatalf("waiting for %s: %v; the page: %s", what, err, state)
	}
	return v
}

// pageState describes the page for a failure message.
const pageState = `JSON.stringify({url: location.href, ready: document.body && document.body.dataset.ready,
	alerts: [...document.querySelectorAll('[role=alert]')].map(e => e.textContent.trim()).filter(Boolean)})`

// TestChromePath: AIPROD_CHROME wins; otherwise the first known name on
// PATH; with none, the error says how to install one.
func TestChromePath(t *testing.T) {
	t.Parallel()
	onPath := func(names ...string) func(string) (string, error) {
		return func(name string) (string, error) {
			for _, n := range names {
				if n == name {
					return "/usr/bin/" + name, nil
				}
			}
			return "", exec.ErrNotFound
		}
	}
	for _, tc := range []struct {
		name, env, want, wantErr string
		path                     []string
	}{
		{name: "env", env: "my-chrome", path: []string{"my-chrome", "chromium"}, want: "/usr/bin/my-chrome"},
		{name: "env missing", env: "my-chrome", path: []string{"chromium"}, wantErr: "AIPROD_CHROME=my-chrome"},
		{name: "chromium first", path: []string{"google-chrome", "chromium"}, want: "/usr/bin/chromium"},
		{name: "chrome", path: []string{"google-chrome"}, want: "/usr/bin/google-chrome"},
		{name: "none", wantErr: "make chromium"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chromePath(onPath(tc.path...), tc.env)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, errNoChrome)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
