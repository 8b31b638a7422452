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
