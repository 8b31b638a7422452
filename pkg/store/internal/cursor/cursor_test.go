package cursor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []Cursor{
		{CreatedAt: time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC), ID: "5f0c:with:colons"},
		{CreatedAt: time.Time{}, ID: "x"},
	} {
		got, err := Decode(Encode(c))
		require.NoError(t, err)
		require.True(t, c.CreatedAt.Equal(got.CreatedAt))
		require.Equal(t, c.ID, got.ID)
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{"!!", "Z2FyYmFnZQ", Encode(Cursor{ID: ""}), "djI6MTox"} {
		_, err := Decode(tok)
		require.ErrorIs(t, err, errclass.Permanent, "%q", tok)
	}
}

// FuzzDecode feeds Decode any token: it never panics, refuses garbage with
// an errclass.Permanent error, and whatever it accepts encodes back to a
// token that decodes to the same cursor.
func FuzzDecode(f *testing.F) {
	for _, c := range []Cursor{
		{CreatedAt: time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC), ID: "5f0c1a2b-0000-4000-8000-00000000abcd"},
		{CreatedAt: time.Time{}, ID: "x"},
		{CreatedAt: time.UnixMicro(0).UTC(), ID: "a:b:c"},
		{CreatedAt: time.UnixMicro(-1).UTC(), ID: "neg"},
	} {
		f.Add(Encode(c))
	}
	for _, tok := range []string{"", "!!", "Z2FyYmFnZQ", "djI6MTox", "djE6Ojp4", "djE6MTp4", "djE6KzE6eA",
		"djE6OTIyMzM3MjAzNjg1NDc3NTgwNzp4", "djE6LTkyMjMzNzIwMzY4NTQ3NzU4MDg6eA", "djE6MTp4==", "djE6MTp4\n"} {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := Decode(tok)
		if err != nil {
			require.ErrorIs(t, err, errclass.Permanent)
			require.Contains(t, err.Error(), "malformed page token")
			return
		}
		require.NotEmpty(t, c.ID)
		require.Equal(t, time.UTC, c.CreatedAt.Location())
		again, err := Decode(Encode(c))
		require.NoError(t, err, "token %q decoded to %+v", tok, c)
		require.True(t, c.CreatedAt.Equal(again.CreatedAt), "created_at %v became %v", c.CreatedAt, again.CreatedAt)
		require.Equal(t, c.ID, again.ID)
	})
}
