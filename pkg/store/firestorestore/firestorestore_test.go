package firestorestore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/firestorestore"
	"github.com/aiprod/aiprod/pkg/store/storetest"
)

// TestConformance runs the store conformance suite against the project's
// Firestore emulator, in process, with the official client; each subtest
// gets a fresh project so that subtests never see each other's documents.
func TestConformance(t *testing.T) {
	t.Parallel()
	srv, err := firestoreemu.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	storetest.Run(t, func(t *testing.T) store.Store {
		c, err := srv.Client(context.Background(), projectID(t))
		require.NoError(t, err)
		s := firestorestore.NewFromClient(c)
		t.Cleanup(func() { _ = c.Close() })
		return s
	})
}

// TestConformanceExternalEmulator runs the suite against the emulator named
// by FIRESTORE_EMULATOR_HOST too, when one is set: Google's own emulator
// (gcloud emulators firestore start) checks that ours behaves like it.
func TestConformanceExternalEmulator(t *testing.T) {
	t.Parallel()
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Skip("FIRESTORE_EMULATOR_HOST not set: the suite ran against the in-process emulator (TestConformance); " +
			"export it to also run against another emulator, e.g. gcloud emulators firestore start")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := firestorestore.New(context.Background(), projectID(t))
		require.NoError(t, err)
		return s
	},
		// The gcloud emulator breaks the deadlocks of its pessimistic locks
		// by multi-second lock timeouts: 50 transactions racing on one
		// document livelock there. 10 still races every transaction.
		storetest.Contention(10),
	)
}

var notProjectChar = regexp.MustCompile(`[^a-z0-9]+`)

// projectID returns a project id unique to t and to this run.
func projectID(t *testing.T) string {
	name := strings.Trim(notProjectChar.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "test-" + strings.Trim(name, "-") + "-" + hex.EncodeToString(b)
}
