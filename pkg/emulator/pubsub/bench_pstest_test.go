//go:build pstest

package pubsubemu

import "cloud.google.com/go/pubsub/v2/pstest"

// With -tags pstest, BenchmarkEmulatorBacklog measures pstest too: the
// emulator this package replaced (the figures before).
func init() {
	benchServers["pstest"] = func() (string, func() error, error) {
		s := pstest.NewServerWithAddress("127.0.0.1:0")
		return s.Addr, s.Close, nil
	}
}
