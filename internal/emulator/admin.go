package emulator

import (
	"net/http"
)

// serveAdmin serves the emulator's own endpoints, for tests, benchmarks and `handler emulate`:
//
//	GET /_emulator/metrics   the [Metrics] as JSON
//	GET /_emulator/expect    [TenantExpect] of every tenant, in world order, as JSON
//
// They need no token and are not counted.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	switch r.URL.Path {
	case "/_emulator/metrics":
		writeJSON(w, http.StatusOK, s.Metrics())
	case "/_emulator/expect":
		out := make([]TenantExpect, 0, len(s.world.Tenants))
		for _, t := range s.world.Tenants {
			out = append(out, s.world.ExpectTenant(t.ID))
		}
		writeJSON(w, http.StatusOK, out)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such admin endpoint; try /_emulator/metrics or /_emulator/expect"})
	}
}

// MetricsURL returns the admin endpoint that serves the Server's [Metrics] as JSON; /_emulator/expect next to it
// serves [World.ExpectTenant] for every tenant.
func (r *Running) MetricsURL() string { return r.URL + "/_emulator/metrics" }
