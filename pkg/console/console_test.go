package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/aiprod/aiprod/pkg/console"
)

// get answers a request of the console's handler.
func get(t *testing.T, h http.Handler, method, path string, headers ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}

// requireSecurityHeaders checks the headers every console answer carries.
func requireSecurityHeaders(t *testing.T, res *http.Response) {
	t.Helper()
	csp := res.Header.Get("Content-Security-Policy")
	for _, directive := range []string{"default-src 'self'", "script-src 'self'", "connect-src 'self'",
		"img-src 'self' data:", "frame-ancestors 'none'", "object-src 'none'"} {
		require.Contains(t, csp, directive)
	}
	require.NotContains(t, csp, "unsafe-inline")
	require.NotContains(t, csp, "unsafe-eval")
	require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
}

func TestServesIndexAndAssets(t *testing.T) {
	t.Parallel()
	h := console.MustNew()
	for _, p := range []string{"/console", "/console/"} {
		res := get(t, h, http.MethodGet, p)
		require.Equal(t, http.StatusOK, res.StatusCode, p)
		require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
		require.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
		require.NotEmpty(t, res.Header.Get("ETag"))
		requireSecurityHeaders(t, res)
		require.Contains(t, body(t, res), `<nav id="nav"`)
	}
	want := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	require.NotEmpty(t, h.Assets())
	for _, name := range h.Assets() {
		res := get(t, h, http.MethodGet, console.AssetsPath+name)
		require.Equal(t, http.StatusOK, res.StatusCode, name)
		ext := name[strings.LastIndex(name, "."):]
		require.Equal(t, want[ext], res.Header.Get("Content-Type"), name)
		requireSecurityHeaders(t, res)
		require.NotEmpty(t, body(t, res), name)

		// Revalidation: the same ETag is a 304 without a body.
		again := get(t, h, http.MethodGet, console.AssetsPath+name, "If-None-Match", res.Header.Get("ETag"))
		require.Equal(t, http.StatusNotModified, again.StatusCode, name)
		require.Empty(t, body(t, again))
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	t.Parallel()
	h := console.MustNew()
	for _, p := range []string{"/console/assets/nope.js", "/console/assets/", "/console/assets/../index.html",
		"/console/index.html", "/console/other", "/console/assets/sub/app.js"} {
		res := get(t, h, http.MethodGet, p)
		require.Equal(t, http.StatusNotFound, res.StatusCode, p)
		requireSecurityHeaders(t, res)
	}
	res := get(t, h, http.MethodPost, "/console")
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
	require.Equal(t, "GET, HEAD", res.Header.Get("Allow"))
	require.Equal(t, http.StatusOK, get(t, h, http.MethodHead, "/console/assets/app.js").StatusCode)
}

// TestIndexReferencesOnlyEmbeddedFiles parses index.html: every script,
// stylesheet, icon and image it names is served, and no script is inline
// (the CSP would refuse it).
func TestIndexReferencesOnlyEmbeddedFiles(t *testing.T) {
	t.Parallel()
	h := console.MustNew()
	doc, err := html.Parse(strings.NewReader(body(t, get(t, h, http.MethodGet, "/console"))))
	require.NoError(t, err)
	var refs []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
			}
			require.NotContains(t, attrs, "style", "inline style on <%s>", n.Data)
			for k := range attrs {
				require.False(t, strings.HasPrefix(k, "on"), "inline handler %s on <%s>", k, n.Data)
			}
			switch n.Data {
			case "script":
				require.NotEmpty(t, attrs["src"], "inline script")
				refs = append(refs, attrs["src"])
			case "link":
				refs = append(refs, attrs["href"])
			case "img":
				refs = append(refs, attrs["src"])
			case "style":
				t.Errorf("inline <style>")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	require.GreaterOrEqual(t, len(refs), 3, "a script, a stylesheet, an icon")
	for _, ref := range refs {
		require.True(t, strings.HasPrefix(ref, console.AssetsPath), "%s is not a same-origin asset", ref)
		require.Equal(t, http.StatusOK, get(t, h, http.MethodGet, ref).StatusCode, ref)
	}
}

// TestModulesImportOnlyEmbeddedFiles reads every ES module's imports:
// each names a served asset, so the page loads nothing from elsewhere.
func TestModulesImportOnlyEmbeddedFiles(t *testing.T) {
	t.Parallel()
	h := console.MustNew()
	served := map[string]bool{}
	for _, name := range h.Assets() {
		served[name] = true
	}
	importRE := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	for _, name := range h.Assets() {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		src := body(t, get(t, h, http.MethodGet, console.AssetsPath+name))
		require.NotContains(t, src, "eval(", name)
		require.NotContains(t, src, "innerHTML", "%s: the views build nodes, never HTML strings", name)
		for _, m := range importRE.FindAllStringSubmatch(src, -1) {
			target, ok := strings.CutPrefix(m[1], "./")
			require.True(t, ok && served[target], "%s imports %s, which is not a served asset", name, m[1])
		}
	}
}

func TestNewRefusesUnusableFiles(t *testing.T) {
	t.Parallel()
	for name, fsys := range map[string]fstest.MapFS{
		"no index":          {"static/assets/app.js": {Data: []byte("x")}},
		"unknown type":      {"static/index.html": {Data: []byte("x")}, "static/assets/app.exe": {Data: []byte("x")}},
		"nested asset":      {"static/index.html": {Data: []byte("x")}, "static/assets/a/b.js": {Data: []byte("x")}},
		"file outside both": {"static/index.html": {Data: []byte("x")}, "static/other.js": {Data: []byte("x")}},
	} {
		_, err := console.NewFS(fsys)
		require.Error(t, err, name)
	}
}
