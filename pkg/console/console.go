package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Paths of the console.
const (
	// Path is where the console's page is served (also Path + "/").
	Path = "/console"
	// AssetsPath prefixes every asset.
	AssetsPath = Path + "/assets/"
)

// ContentSecurityPolicy is sent with every console response: only
// same-origin scripts, styles, connections and images (and data: images),
// no inline script, no plugins, no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

//go:embed static
var static embed.FS

// contentTypes are the types of the files the console embeds, by
// extension. New reports a file with any other extension.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

// file is one embedded file, ready to serve.
type file struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// Handler serves the console. It is safe for concurrent use.
type Handler struct {
	index  file
	assets map[string]file // by name under static/assets
}

// New returns the console's handler over the embedded files.
func New() (*Handler, error) { return newHandler(static) }

// MustNew is New for wiring code: it panics when the embedded files are
// unusable, which TestEmbeddedFiles rules out.
func MustNew() *Handler {
	h, err := New()
	if err != nil {
		panic(err)
	}
	return h
}

// newHandler reads every file of fsys's static directory.
func newHandler(fsys fs.FS) (*Handler, error) {
	h := &Handler{assets: map[string]file{}}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("console: %s has no known content type", p)
		}
		sum := sha256.Sum256(body)
		f := file{name: path.Base(p), body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		switch rel := strings.TrimPrefix(p, "static/"); {
		case rel == "index.html":
			h.index = f
		case strings.HasPrefix(rel, "assets/") && !strings.Contains(strings.TrimPrefix(rel, "assets/"), "/"):
			h.assets[strings.TrimPrefix(rel, "assets/")] = f
		default:
			return fmt.Errorf("console: %s is neither static/index.html nor directly in static/assets", p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: read embedded files: %w", err)
	}
	if h.index.body == nil {
		return nil, fmt.Errorf("console: static/index.html is missing")
	}
	return h, nil
}

// Assets returns the names of the files served under AssetsPath.
func (h *Handler) Assets() []string {
	out := make([]string, 0, len(h.assets))
	for name := range h.assets {
		out = append(out, name)
	}
	return out
}

// ServeHTTP serves GET and HEAD of Path, Path + "/" and AssetsPath + name;
// anything else is a plain 404 (or 405 for other methods), with the same
// security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var f file
	var ok bool
	switch p := r.URL.Path; {
	case p == Path || p == Path+"/":
		f, ok = h.index, true
	case strings.HasPrefix(p, AssetsPath):
		f, ok = h.assets[strings.TrimPrefix(p, AssetsPath)]
	}
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.contentType)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	// ServeContent answers If-None-Match with 304, and ranges.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}

// setSecurityHeaders sets the headers every console response carries.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}
