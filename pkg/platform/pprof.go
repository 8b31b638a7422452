package platform

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// PprofVar names the address where a process serves Go's profiles
// (net/http/pprof): every service (Config.Pprof), aiprod dev and aiprod
// emulators read it. Unset: no profiles. Bind it to loopback: profiles are
// for an operator on the machine, not for the network.
const PprofVar = "AIPROD_PPROF"

// ServePprof serves Go's profiles on addr until stop is called and
// returns the address it bound (addr with port 0 picks one).
func ServePprof(addr string) (bound string, stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("pprof on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	return lis.Addr().String(), func() { _ = srv.Close() }, nil
}
