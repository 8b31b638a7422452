package firestoreemu_test

import (
	"context"
	"fmt"

	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
)

func ExampleNewServer() {
	ctx := context.Background()
	srv, err := firestoreemu.NewServer()
	if err != nil {
		panic(err)
	}
	defer func() { _ = srv.Close() }()

	// Or set FIRESTORE_EMULATOR_HOST=srv.Addr() and use firestore.NewClient.
	client, err := srv.Client(ctx, "my-project")
	if err != nil {
		panic(err)
	}
	defer func() { _ = client.Close() }()

	if _, err := client.Doc("cities/paris").Set(ctx, map[string]any{"population": 2_100_000}); err != nil {
		panic(err)
	}
	snap, err := client.Doc("cities/paris").Get(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(snap.Data()["population"])
	// Output: 2100000
}
