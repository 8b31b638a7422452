package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/store"
)

// TestMaxConcurrencyFitsTheSlotTable: every concurrency the catalog
// accepts is a capacity AcquireSlot takes, one document's worth of slots.
func TestMaxConcurrencyFitsTheSlotTable(t *testing.T) {
	t.Parallel()
	require.Equal(t, store.MaxSlots, catalog.MaxConcurrency)
}
