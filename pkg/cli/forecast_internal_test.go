package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/money"
)

// The month's bar: spent, expected up to the interval's low end, the
// interval, and the limit where it falls, scaled to the larger of the
// high end and the limit; without a limit, no mark.
func TestMonthBar(t *testing.T) {
	t.Parallel()
	usd := money.MustParse
	limit := usd("50")
	f := api.ForecastView{Spent: usd("20"), Low: usd("40"), Projected: usd("50"), High: usd("60"), Limit: &limit}
	assert.Equal(t, strings.Repeat("█", 16)+strings.Repeat("░", 16)+strings.Repeat("▒", 8)+"|"+strings.Repeat("▒", 7), monthBar(f))
	f.Limit = nil
	assert.Equal(t, strings.Repeat("█", 16)+strings.Repeat("░", 16)+strings.Repeat("▒", 16), monthBar(f))
	limit = usd("120")
	f.Limit = &limit
	assert.Equal(t, strings.Repeat("█", 8)+strings.Repeat("░", 8)+strings.Repeat("▒", 8)+strings.Repeat(" ", 24)+"|", monthBar(f),
		"a limit far above: the bar ends at the high end, the mark at the limit")
	assert.Equal(t, strings.Repeat(" ", 48)+"|", monthBar(api.ForecastView{Limit: &limit}), "nothing spent or expected")
}
