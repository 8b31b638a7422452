package job

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/money"
)

func TestDecodeRequestDefaults(t *testing.T) {
	t.Parallel()
	r, err := ParseRequest([]byte(`{"prompt":"a red fox","duration_seconds":5}`))
	require.NoError(t, err)
	require.Equal(t, Res720p, r.Resolution)
	require.Equal(t, Aspect16x9, r.AspectRatio)
	require.Equal(t, TierStandard, r.QualityTier)
	require.Nil(t, r.MaxCostUSD)
	require.Nil(t, r.DeadlineSeconds, "no deadline unless asked: routing applies the tier's default")
}

func TestDeadlineBounds(t *testing.T) {
	t.Parallel()
	for _, d := range []int{MinDeadlineSeconds, MaxDeadlineSeconds} {
		r, err := ParseRequest([]byte(fmt.Sprintf(`{"prompt":"p","duration_seconds":5,"deadline_seconds":%d}`, d)))
		require.NoError(t, err)
		require.Equal(t, d, *r.DeadlineSeconds)
	}
}

func TestDecodeRequestFull(t *testing.T) {
	t.Parallel()
	r, err := ParseRequest([]byte(`{
	  "prompt": "a red fox running through snow, cinematic", "duration_seconds": 5,
	  "resolution": "1080p", "aspect_ratio": "9:16", "quality_tier": "premium",
	  "image_url": "https://example.com/first-frame.png", "audio": true, "max_cost_usd": 2.5,
	  "backends": ["runway", "luma"], "user_id": "alice",
	  "webhook_url": "https://example.com/hooks/video", "deadline_seconds": 900, "metadata": {"campaign": "winter"}}`))
	require.NoError(t, err)
	require.Equal(t, 900, *r.DeadlineSeconds)
	require.Equal(t, money.MustParse("2.5"), *r.MaxCostUSD)
	require.Equal(t, []string{"runway", "luma"}, r.Backends)
	require.True(t, r.ImageToVideo())
	require.Equal(t, "winter", r.Metadata["campaign"])
}

func TestDecodeRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, field, msg string
	}{
		{"missing prompt", `{"duration_seconds":5}`, "prompt", "required"},
		{"blank prompt", `{"prompt":"   ","duration_seconds":5}`, "prompt", "required"},
		{"long prompt", `{"prompt":"` + strings.Repeat("x", 4001) + `","duration_seconds":5}`, "prompt", "at most 4000"},
		{"missing duration", `{"prompt":"p"}`, "duration_seconds", "required"},
		{"duration 0", `{"prompt":"p","duration_seconds":0}`, "duration_seconds", "required"},
		{"duration 61", `{"prompt":"p","duration_seconds":61}`, "duration_seconds", "from 1 to 60"},
		{"duration negative", `{"prompt":"p","duration_seconds":-1}`, "duration_seconds", "from 1 to 60"},
		{"duration fractional", `{"prompt":"p","duration_seconds":5.5}`, "duration_seconds", "integer"},
		{"duration string", `{"prompt":"p","duration_seconds":"5"}`, "duration_seconds", "integer"},
		{"tier ultra", `{"prompt":"p","duration_seconds":5,"quality_tier":"ultra"}`, "quality_tier", "ultra"},
		{"resolution 8k", `{"prompt":"p","duration_seconds":5,"resolution":"8k"}`, "resolution", "8k"},
		{"aspect 4:3", `{"prompt":"p","duration_seconds":5,"aspect_ratio":"4:3"}`, "aspect_ratio", "4:3"},
		{"unknown field", `{"prompt":"p","duration_seconds":5,"colour":"red"}`, "colour", "unknown field"},
		{"malformed json", `{"prompt":"p",`, "", "malformed JSON"},
		{"not an object", `[1,2]`, "", "JSON object"},
		{"empty body", ``, "", "empty"},
		{"two objects", `{"prompt":"p","duration_seconds":5}{}`, "", "single JSON object"},
		{"trailing brace", `{"prompt":"p","duration_seconds":5} }`, "", "single JSON object"},
		{"trailing vertical tab", "{\"prompt\":\"p\",\"duration_seconds\":5}\v", "", "single JSON object"},
		{"trailing word after spaces", `{"prompt":"p","duration_seconds":5}` + strings.Repeat(" ", 2000) + "x", "", "single JSON object"},
		{"bad image url", `{"prompt":"p","duration_seconds":5,"image_url":"ftp://x"}`, "image_url", "http"},
		{"huge data uri", `{"prompt":"p","duration_seconds":5,"image_url":"data:image/png;base64,` + strings.Repeat("A", MaxDataURIBytes) + `"}`, "image_url", "at most 512 KiB"},
		{"bad webhook", `{"prompt":"p","duration_seconds":5,"webhook_url":"not a url"}`, "webhook_url", "http"},
		{"zero max cost", `{"prompt":"p","duration_seconds":5,"max_cost_usd":0}`, "max_cost_usd", "greater than 0"},
		{"sub-micro max cost", `{"prompt":"p","duration_seconds":5,"max_cost_usd":0.0000001}`, "max_cost_usd", "6 decimals"},
		{"deadline 0", `{"prompt":"p","duration_seconds":5,"deadline_seconds":0}`, "deadline_seconds", "from 60 to 86400"},
		{"deadline 59", `{"prompt":"p","duration_seconds":5,"deadline_seconds":59}`, "deadline_seconds", "got 59"},
		{"deadline over a day", `{"prompt":"p","duration_seconds":5,"deadline_seconds":86401}`, "deadline_seconds", "from 60 to 86400"},
		{"deadline fractional", `{"prompt":"p","duration_seconds":5,"deadline_seconds":90.5}`, "deadline_seconds", "integer"},
		{"duplicate backend", `{"prompt":"p","duration_seconds":5,"backends":["a","a"]}`, "backends", "twice"},
		{"backends not array", `{"prompt":"p","duration_seconds":5,"backends":"a"}`, "backends", "array"},
		{"metadata not strings", `{"prompt":"p","duration_seconds":5,"metadata":{"a":1}}`, "metadata", "string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRequest([]byte(tt.body))
			require.Error(t, err)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.field, fe.Field)
			require.Contains(t, fe.Message, tt.msg)
			require.ErrorIs(t, err, errclass.Permanent)
		})
	}
}

func TestPromptLengthCountsCharactersNotBytes(t *testing.T) {
	t.Parallel()
	_, err := ParseRequest([]byte(`{"prompt":"` + strings.Repeat("é", 4000) + `","duration_seconds":5}`))
	require.NoError(t, err, "4000 two-byte characters are 4000 characters")
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"prompt":"p","duration_seconds":5}`))
	f.Add([]byte(`{"prompt":"p","duration_seconds":5,"max_cost_usd":1e-3,"metadata":{"a":"b"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			return
		}
		require.NoError(t, r.Validate())
	})
}

func TestParseRequestAcceptsTrailingWhitespace(t *testing.T) {
	t.Parallel()
	req, err := ParseRequest([]byte("{\"prompt\":\"p\",\"duration_seconds\":5} \n\t\r\n"))
	require.NoError(t, err)
	require.Equal(t, "p", req.Prompt)
}
