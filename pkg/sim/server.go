package sim

import "net/http"

// Routes are a simulated protocol's handlers by ServeMux pattern, such as
// "GET /v1/tasks/{id}".
type Routes map[string]http.HandlerFunc

// Server is what every simulator is on the outside: a Core, and one
// handler that serves the provider's protocol, every route behind the
// simulator's Gate, together with the Core's /__sim endpoints. Simulators
// embed it for Core and Handler. Safe for concurrent use.
type Server struct {
	core    *Core
	handler http.Handler
}

// NewServer returns a Server on a new Core built from cfg that serves
// routes behind gate (its Core is set to the new one) and the Core's /__sim
// endpoints.
func NewServer(cfg Config, gate Gate, routes Routes) Server {
	core := NewCore(cfg)
	gate.Core = core
	mux := http.NewServeMux()
	core.Mount(mux)
	for pattern, h := range routes {
		mux.HandleFunc(pattern, gate.Wrap(h))
	}
	return Server{core: core, handler: mux}
}

// Core returns the simulator's core: faults, stats, base URL, credential
// and generations.
func (s Server) Core() *Core { return s.core }

// Handler serves the provider's protocol and the /__sim endpoints. It is
// the same handler at every call.
func (s Server) Handler() http.Handler { return s.handler }
