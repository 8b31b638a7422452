package firestorestore

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/store/storetest"
)

// TestSlotTableDocumentSize: the largest slot table a backend can have
// (store.MaxSlots full slots, store.MaxSlotWaiters marks) makes a
// document of under half of Firestore's 1 MiB, counted as Firestore
// counts storage (firestoreSize).
func TestSlotTableDocumentSize(t *testing.T) {
	t.Parallel()
	tab := storetest.FullestSlotTable("a-backend-name-of-31-characters", time.Now())
	d, err := encodeSlotTable(tab)
	require.NoError(t, err)
	name := "projects/p/databases/(default)/documents/backends/" + tab.Backend + "/slots/all"
	size := documentSize(name, reflect.ValueOf(d))
	t.Logf("fullest slot table: %d bytes (%d slots, %d marks)", size, len(tab.Slots), len(tab.Waiters))
	require.Less(t, size, 1<<20/2)
	require.Greater(t, size, 1000*150, "the slots are counted")
}

// documentSize is a document's storage size as Firestore documents it
// (firebase.google.com/docs/firestore/storage-size): its name's
// collection and document ids, each string + 1, plus 16; its fields; 32.
func documentSize(name string, fields reflect.Value) int {
	_, path, _ := strings.Cut(name, "/documents/")
	size := 16 + 32 + firestoreSize(fields)
	for _, seg := range strings.Split(path, "/") {
		size += len(seg) + 1
	}
	return size
}

// firestoreSize is the storage size of a value as Firestore counts it: a
// string its UTF-8 bytes + 1, a timestamp or number 8, a boolean 1, an
// array the sum of its values, a map (or a struct, with its firestore
// field names; empty omitempty fields left out) the sum of its keys (as
// strings) and values.
func firestoreSize(v reflect.Value) int {
	if v.Type() == reflect.TypeFor[time.Time]() {
		return 8
	}
	size := 0
	switch v.Kind() {
	case reflect.String:
		return v.Len() + 1
	case reflect.Bool:
		return 1
	case reflect.Int, reflect.Int64, reflect.Float64:
		return 8
	case reflect.Slice:
		for i := range v.Len() {
			size += firestoreSize(v.Index(i))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			size += it.Key().Len() + 1 + firestoreSize(it.Value())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			tag, opts, _ := strings.Cut(v.Type().Field(i).Tag.Get("firestore"), ",")
			if opts == "omitempty" && v.Field(i).IsZero() {
				continue
			}
			size += len(tag) + 1 + firestoreSize(v.Field(i))
		}
	default:
		panic("firestoreSize: a " + v.Kind().String())
	}
	return size
}
