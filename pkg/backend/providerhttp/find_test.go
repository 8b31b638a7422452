package providerhttp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

var since = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// item is a listed generation created at since+offset.
func item(id string, offset time.Duration, match bool) providerhttp.Listed {
	return providerhttp.Listed{ID: id, CreatedAt: since.Add(offset), Match: match}
}

// pages serves pages in turn and counts the reads.
func pages(ps ...[]providerhttp.Listed) (providerhttp.Page, *int) {
	n := 0
	return func(context.Context) ([]providerhttp.Listed, bool, error) {
		if n >= len(ps) {
			panic("read past the last page")
		}
		p := ps[n]
		n++
		return p, n < len(ps), nil
	}, &n
}

func TestFindOne(t *testing.T) {
	t.Parallel()
	skew := providerhttp.ClockSkew
	tests := []struct {
		name      string
		pages     [][]providerhttp.Listed
		wantID    string
		wantClass error // nil: no error
		wantReads int
	}{
		{name: "empty listing", pages: [][]providerhttp.Listed{{}}, wantReads: 1},
		{name: "one match", pages: [][]providerhttp.Listed{{item("a", time.Minute, false), item("b", time.Second, true)}}, wantID: "b", wantReads: 1},
		{name: "within the skew", pages: [][]providerhttp.Listed{{item("b", -skew+time.Second, true)}}, wantID: "b", wantReads: 1},
		{name: "before the skew is ignored", pages: [][]providerhttp.Listed{{item("a", time.Second, true), item("b", -skew-time.Second, true)}}, wantID: "a", wantReads: 1},
		{name: "two matches", pages: [][]providerhttp.Listed{{item("a", 2*time.Second, true)}, {item("b", time.Second, true)}}, wantClass: errclass.Conflict, wantReads: 2},
		{name: "listed twice across pages counts once", pages: [][]providerhttp.Listed{{item("x", 3*time.Second, false), item("a", 2*time.Second, true)}, {item("a", 2*time.Second, true)}}, wantID: "a", wantReads: 2},
		{
			name:      "stops at the page that reaches past the window",
			pages:     [][]providerhttp.Listed{{item("a", time.Second, true)}, {item("old", -time.Hour, false)}, {item("never read", -2*time.Hour, true)}},
			wantID:    "a",
			wantReads: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next, reads := pages(tt.pages...)
			id, found, err := providerhttp.FindOne(context.Background(), "acme", since, next)
			require.Equal(t, tt.wantReads, *reads)
			if tt.wantClass != nil {
				require.Equal(t, tt.wantClass, errclass.Of(err), "%v", err)
				require.ErrorContains(t, err, "acme: find:")
				require.False(t, found)
				require.Empty(t, id)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantID != "", found)
			require.Equal(t, tt.wantID, id)
		})
	}
}

func TestFindOneErrors(t *testing.T) {
	t.Parallel()
	boom := errclass.New(errclass.Retryable, "acme: list: HTTP 503")
	_, found, err := providerhttp.FindOne(context.Background(), "acme", since, func(context.Context) ([]providerhttp.Listed, bool, error) {
		return nil, false, boom
	})
	require.False(t, found)
	require.True(t, errors.Is(err, boom))

	endless := func(context.Context) ([]providerhttp.Listed, bool, error) {
		return []providerhttp.Listed{item("x", time.Second, false)}, true, nil
	}
	_, found, err = providerhttp.FindOne(context.Background(), "acme", since, endless)
	require.False(t, found)
	require.Equal(t, errclass.Conflict, errclass.Of(err))
	require.ErrorContains(t, err, "cannot prove the submit absent")
}

func TestListedPage(t *testing.T) {
	t.Parallel()
	type gen struct{ id, created string }
	c := &providerhttp.Client{Provider: "acme"}
	read := func(g gen) (string, string, bool) { return g.id, g.created, g.id == "b" }
	items, err := providerhttp.ListedPage(c, "list", "generation", []gen{{"a", "2026-11-25T12:00:00Z"}, {"b", "2026-11-25T12:00:01.5Z"}}, read)
	require.NoError(t, err)
	require.Equal(t, []providerhttp.Listed{
		{ID: "a", CreatedAt: since},
		{ID: "b", CreatedAt: since.Add(1500 * time.Millisecond), Match: true},
	}, items)

	for _, bad := range []gen{{"", "2026-11-25T12:00:00Z"}, {"c", "yesterday"}} {
		_, err := providerhttp.ListedPage(c, "list", "generation", []gen{{"a", "2026-11-25T12:00:00Z"}, bad}, read)
		require.Equal(t, errclass.Retryable, errclass.Of(err), "%+v", bad)
		require.ErrorContains(t, err, "acme: list: generation")
		require.ErrorContains(t, err, "has no id or an unreadable created_at")
	}
}
