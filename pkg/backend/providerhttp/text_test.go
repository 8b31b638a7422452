package providerhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

func TestClip(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a b c", providerhttp.Clip("a\nb\x7fc"))
	long := strings.Repeat("é", providerhttp.MaxMessage) // 2 bytes each
	got := providerhttp.Clip(long)
	require.True(t, utf8.ValidString(got))
	require.True(t, strings.HasSuffix(got, "…"))
	require.LessOrEqual(t, len(got), providerhttp.MaxMessage+len("…"))
	require.Equal(t, "short", providerhttp.Clip("short"))
}

func TestRedact(t *testing.T) {
	t.Parallel()
	require.NoError(t, providerhttp.Redact(nil, secret))
	plain := errors.New("no secret here")
	require.Same(t, plain, providerhttp.Redact(plain, secret))
	require.Same(t, plain, providerhttp.Redact(plain, ""))
	err := providerhttp.Redact(fmt.Errorf("key %s: %w", secret, context.Canceled), secret)
	require.EqualError(t, err, "key [REDACTED]: context canceled")
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, "x", providerhttp.RedactText("x", ""))
}

func TestFieldError(t *testing.T) {
	t.Parallel()
	require.Equal(t, "body.frames.0: bad", providerhttp.FieldError{Loc: []any{"body", "frames", 0.0}, Msg: "bad"}.String())
	require.Equal(t, "bad", providerhttp.FieldError{Msg: "bad"}.String())
	require.Equal(t, "body.duration: bad (literal_error)", providerhttp.FieldError{Loc: []any{"body", "duration"}, Msg: "bad", Type: "literal_error"}.String())
}

func TestFieldMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw   string
		msgs  []string
		types []string
		ok    bool
	}{
		{raw: ``}, {raw: `null`}, {raw: `42`}, {raw: `{"msg":"x"}`},
		{raw: `"Invalid key"`, msgs: []string{"Invalid key"}, ok: true},
		{raw: `[]`, ok: true},
		{
			raw:  `[{"loc":["body","duration"],"msg":"bad","type":"literal_error"},{"loc":["body"],"msg":"worse"}]`,
			msgs: []string{"body.duration: bad (literal_error)", "body: worse"}, types: []string{"literal_error"}, ok: true,
		},
	}
	for _, tt := range tests {
		msgs, types, ok := providerhttp.FieldMessages(json.RawMessage(tt.raw))
		require.Equal(t, tt.ok, ok, tt.raw)
		require.Equal(t, tt.msgs, msgs, tt.raw)
		require.Equal(t, tt.types, types, tt.raw)
	}
}

func TestMessageField(t *testing.T) {
	t.Parallel()
	read := providerhttp.MessageField("detail")
	for body, want := range map[string]string{
		`{"detail":"Invalid API key"}`:                            "Invalid API key",
		`{"detail":[{"loc":["body","x"],"msg":"a"},{"msg":"b"}]}`: "body.x: a; b",
		`{"error":"elsewhere"}`:                                   "",
		`<html>`:                                                  "",
	} {
		require.Equal(t, providerhttp.Problem{Message: want}, read(&providerhttp.Response{Status: 400, Body: []byte(body)}), body)
	}
}

func TestJSONText(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		``:                    "",
		`null`:                "",
		`"bad\ninput"`:        "bad input",
		`{"code":"E1","n":2}`: `{"code":"E1","n":2}`,
		`["a","b"]`:           `["a","b"]`,
	} {
		require.Equal(t, want, providerhttp.JSONText(json.RawMessage(raw)), raw)
	}
	require.LessOrEqual(t, len(providerhttp.JSONText(json.RawMessage(`"`+strings.Repeat("x", 1000)+`"`))), providerhttp.MaxMessage+len("…"))
}

func TestPathSegment(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"abc", " 17f20503-6c24-4c16-946b-35dbbce2af2f ", "gm3qorzdhgbfurvjtvhg6dckhu"} {
		id, err := providerhttp.PathSegment("acme", ok, "a thing id")
		require.NoError(t, err)
		require.Equal(t, strings.TrimSpace(ok), id)
	}
	for _, bad := range []string{"", "  ", "a/b", "../x", "a?b", "a#b", "a%2fb", "a b", strings.Repeat("x", 129)} {
		_, err := providerhttp.PathSegment("acme", bad, "a thing id")
		require.Equal(t, errclass.Permanent, errclass.Of(err), "%q", bad)
		require.ErrorContains(t, err, "acme: invalid handle")
		require.ErrorContains(t, err, "want a thing id")
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	ok := providerhttp.Settings{Endpoint: "https://api.acme.test", APIKey: "k", KeyEnv: "ACME_KEY"}
	require.NoError(t, ok.Validate("acme"))
	tests := []struct {
		name string
		edit func(*providerhttp.Settings)
		want string
	}{
		{"no key", func(s *providerhttp.Settings) { s.APIKey = " " }, "acme: Config.APIKey is required (set ACME_KEY)"},
		{"relative endpoint", func(s *providerhttp.Settings) { s.Endpoint = "api.acme.test" }, "acme: Config.Endpoint must be an absolute http(s) URL"},
		{"ftp endpoint", func(s *providerhttp.Settings) { s.Endpoint = "ftp://api.acme.test" }, "Config.Endpoint"},
		{"negative poll", func(s *providerhttp.Settings) { s.PollInterval = -time.Second }, "acme: Config.PollInterval must not be negative"},
	}
	for _, tt := range tests {
		s := ok
		tt.edit(&s)
		require.ErrorContains(t, s.Validate("acme"), tt.want, tt.name)
	}
	require.NoError(t, providerhttp.Settings{Endpoint: "http://localhost:1"}.Validate("veo"), "no KeyEnv, no key needed")

	c := providerhttp.HTTPClientOr(nil)
	require.Equal(t, providerhttp.HTTPTimeoutDefault, c.Timeout)
	require.Same(t, c, providerhttp.HTTPClientOr(c))
}
