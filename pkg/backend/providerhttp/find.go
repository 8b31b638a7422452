package providerhttp

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// ClockSkew is how much earlier than the recorded intent time (since) a
// generation may be stamped and still be the one a lost submit created:
// the provider's clock may run behind ours, and the intent is recorded just
// before the call. FindOne considers every generation created at or after
// since - ClockSkew, and reads the listing back to there.
const ClockSkew = 2 * time.Minute

// FindPagesMax bounds how many pages FindOne reads. A window that takes
// more cannot be covered, and FindOne says so rather than guess.
const FindPagesMax = 50

// Listed is one generation of a provider's listing.
type Listed struct {
	ID        string
	CreatedAt time.Time
	// Match reports whether the generation is what the lost submit would
	// have created (same model and the same request fields).
	Match bool
}

// Page reads the next page of a listing whose generations come newest
// first; more reports whether another page follows. It is called until it
// reports no more, or its page reaches back past the window.
type Page func(ctx context.Context) (items []Listed, more bool, err error)

// ListedPage turns one page of a listing into Listed items, item reading
// each one's id, creation time (RFC 3339) and whether it matches. An item
// without an id or with an unreadable time makes the page untrustworthy: a
// Retryable error "<Provider>: <op>: <noun> "id" has no id or an
// unreadable created_at ...".
func ListedPage[T any](c *Client, op, noun string, page []T, item func(T) (id, created string, match bool)) ([]Listed, error) {
	out := make([]Listed, 0, len(page))
	for _, p := range page {
		id, created, match := item(p)
		at, err := time.Parse(time.RFC3339Nano, created)
		if err != nil || id == "" {
			return nil, c.Errorf(errclass.Retryable, op, "%s %q has no id or an unreadable created_at %q", noun, Clip(id), Clip(created))
		}
		out = append(out, Listed{ID: id, CreatedAt: at, Match: match})
	}
	return out, nil
}

// FindOne is the scan behind backend.Finder.Find. It reads pages until one
// holds a generation created before since - ClockSkew (the listing is
// newest first, so no later page can hold a candidate) or the listing ends,
// and then answers:
//
//   - exactly one matching generation in the window: its id, found;
//   - none: found=false and a nil error, since the scan covered the window;
//   - more than one: an errclass.Conflict error naming them (two identical
//     requests cannot be told apart, and guessing could adopt another job's
//     generation);
//   - a page error, or a window longer than FindPagesMax pages: that error
//     (Conflict for the page limit), never found=false.
//
// A generation listed twice (the listing shifted between pages) counts once.
func FindOne(ctx context.Context, provider string, since time.Time, next Page) (id string, found bool, err error) {
	cutoff := since.Add(-ClockSkew)
	var matches []string
	for pages := 0; ; pages++ {
		if pages == FindPagesMax {
			return "", false, errclass.New(errclass.Conflict,
				"%s: find: the generations created since %s fill more than %d pages: cannot prove the submit absent",
				provider, cutoff.UTC().Format(time.RFC3339), FindPagesMax)
		}
		items, more, err := next(ctx)
		if err != nil {
			return "", false, err
		}
		done := !more
		for _, it := range items {
			if it.CreatedAt.Before(cutoff) {
				done = true
				continue
			}
			if it.Match && !slices.Contains(matches, it.ID) {
				matches = append(matches, it.ID)
			}
		}
		if done {
			break
		}
	}
	switch len(matches) {
	case 0:
		return "", false, nil
	case 1:
		return matches[0], true, nil
	}
	return "", false, errclass.New(errclass.Conflict,
		"%s: find: %d generations created since %s match the request (%s): cannot tell which one was submitted",
		provider, len(matches), cutoff.UTC().Format(time.RFC3339), Clip(strings.Join(matches, ", ")))
}
