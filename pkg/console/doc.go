// Package console serves AIPROD's web console: a single page, embedded in
// the binary, that shows a project's jobs and their timelines, the
// backends, usage and budget charts and savings recommendations, reading
// only the public HTTP API (DESIGN.md, "Console").
//
// # What is served
//
// Handler serves index.html at /console and /console/, and the files of
// static/assets at /console/assets/<file>: ES modules, CSS and the icon.
// There is no build step and nothing is fetched from elsewhere: every
// file is same-origin. Anything else under /console is a 404.
//
// # Security
//
// The static files need no key. The page asks for an API key (or takes it
// from the #key= fragment, which browsers never send to the server), keeps
// it in sessionStorage for the browser session and sends it only in the
// Authorization header of API requests: never in a URL, so never in an
// access log. Every response carries a strict Content-Security-Policy
// (same-origin scripts, styles and connections, no inline script, no
// framing), X-Content-Type-Options: nosniff and Referrer-Policy:
// no-referrer.
//
// # Caching
//
// Every file has a strong ETag (a hash of its bytes) and Cache-Control:
// no-cache, so browsers revalidate and get a 304 while the binary is the
// same, and never mix the modules of two versions.
package console
