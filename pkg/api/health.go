package api

import (
	"context"
	"log/slog"
	"net/http"
)

// Status is the body of GET /healthz and a successful GET /readyz.
type Status struct {
	Status string `json:"status"`
}

// healthz is GET /healthz: the process serves.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, r, http.StatusOK, Status{Status: "ok"})
	return nil
}

// readyz is GET /readyz: Config.Ready says whether the store and the queue
// are reachable. The reason of a failure is logged, not shown.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeoutDefault)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", slog.String("error", err.Error()))
			return &httpError{status: http.StatusServiceUnavailable, ErrorDetail: ErrorDetail{
				Code: CodeUnavailable, Message: "not ready: a dependency is unreachable",
			}}
		}
	}
	s.writeJSON(w, r, http.StatusOK, Status{Status: "ok"})
	return nil
}
