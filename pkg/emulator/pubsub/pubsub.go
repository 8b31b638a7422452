// Package pubsubemu serves the Pub/Sub emulator that ships with the official
// client (cloud.google.com/go/pubsub/v2/pstest) on an address, for the dev
// stack and `aiprod emulators`. It only adds what pstest lacks for that
// use: an error instead of a panic when the address cannot be listened on.
package pubsubemu

import (
	"fmt"

	"cloud.google.com/go/pubsub/v2/pstest"
)

// Serve starts the emulator on addr ("127.0.0.1:0" picks a free port). The
// caller closes it; its Addr field is the address to use as
// PUBSUB_EMULATOR_HOST.
func Serve(addr string) (srv *pstest.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			srv, err = nil, fmt.Errorf("pubsub emulator on %s: %v", addr, r)
		}
	}()
	return pstest.NewServerWithAddress(addr), nil
}
