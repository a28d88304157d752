package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Server is the emulator as an [http.Handler]: the managed-identity endpoint, Entra ID's discovery, keys and token
// endpoints, and Graph v1.0. Use [New] to serve a world. The zero value serves an empty world: every tenant is
// unknown and the managed identity is the nil GUID. A Server is safe for concurrent use; set the exported fields
// before it serves its first request.
type Server struct {
	// Now returns the current time, for issuing and validating tokens. nil means time.Now.
	Now func() time.Time

	world World // copied in New; never changed afterwards

	once sync.Once
	st   *state

	mu sync.Mutex
	m  Metrics
}

// Metrics is a snapshot of what a Server has served.
type Metrics struct {
	// Requests counts requests by "route tenant", e.g. "graph /users 2b8e4f1a-…" or "token 2b8e4f1a-…".
	// Routes are msi, discovery, keys, token, "graph /organization", "graph /users" and "notfound". The tenant is
	// the one named in the path (Entra), the token's tid (Graph), or "-".
	Requests map[string]int
	// TokenErrors counts token-endpoint and managed-identity failures by "code tenant", e.g. "AADSTS700016 e4a1…".
	TokenErrors map[string]int
	// TokensIssued counts Graph tokens issued by the token endpoint.
	TokensIssued int
	// MITokensIssued counts tokens issued by the managed-identity endpoint.
	MITokensIssued int
}

// New returns a Server for a copy of w. It does not validate w (see [World.Validate]); for duplicate tenants the
// first one wins.
func New(w *World) *Server {
	s := &Server{}
	if w != nil {
		s.world = w.clone()
	}
	return s
}

// state is everything derived from the world, built once.
type state struct {
	signer         *signer
	identityHeader string
	tenants        map[string]*tenant // by lower-case id and initial domain
}

func (s *Server) state() *state {
	s.once.Do(func() {
		st := &state{
			signer:         newSigner(&s.world),
			identityHeader: rand.Text(),
			tenants:        map[string]*tenant{},
		}
		for i := range s.world.Tenants {
			t := newTenant(&s.world, i)
			for _, k := range []string{strings.ToLower(t.ID), t.domain} {
				if _, dup := st.tenants[k]; !dup {
					st.tenants[k] = t
				}
			}
		}
		if home := strings.ToLower(s.world.HomeTenantID); home != "" && st.tenants[home] == nil {
			// The home tenant exists even when it is not a report target: it has the bridge app but no grants.
			st.tenants[home] = newTenant(&World{Tenants: []Tenant{{ID: s.world.HomeTenantID, DisplayName: "Home",
				Grants: []string{}, Seed: s.world.Seed}}}, 0)
		}
		s.st = st
	})
	return s.st
}

// IdentityHeader returns the secret the managed-identity endpoint requires in X-IDENTITY-HEADER (IDENTITY_HEADER
// in App Service). It is random per Server.
func (s *Server) IdentityHeader() string { return s.state().identityHeader }

// lookup finds a tenant by id or initial domain.
func (s *Server) lookup(idOrDomain string) *tenant {
	return s.state().tenants[strings.ToLower(idOrDomain)]
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Metrics returns a snapshot of the counters.
func (s *Server) Metrics() Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.m
	m.Requests = maps.Clone(s.m.Requests)
	m.TokenErrors = maps.Clone(s.m.TokenErrors)
	if m.Requests == nil {
		m.Requests = map[string]int{}
	}
	if m.TokenErrors == nil {
		m.TokenErrors = map[string]int{}
	}
	return m
}

func (s *Server) count(f func(m *Metrics)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m.Requests == nil {
		s.m.Requests = map[string]int{}
		s.m.TokenErrors = map[string]int{}
	}
	f(&s.m)
}

func (s *Server) countRequest(route, tenant string) {
	if tenant == "" {
		tenant = "-"
	}
	s.count(func(m *Metrics) { m.Requests[route+" "+tenant]++ })
}

// ServeHTTP routes a request to the managed-identity, Entra ID or Graph handlers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/msi/token":
		s.countRequest("msi", "")
		s.serveMI(w, r)
		return
	case path == "/v1.0" || strings.HasPrefix(path, "/v1.0/"):
		s.serveGraph(w, r)
		return
	}
	// /{tenant}/...
	if tenant, rest, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/"); ok && tenant != "" {
		switch rest {
		case "v2.0/.well-known/openid-configuration":
			s.countRequest("discovery", tenant)
			s.serveDiscovery(w, r, tenant)
			return
		case "discovery/v2.0/keys":
			s.countRequest("keys", tenant)
			s.serveKeys(w, r, tenant)
			return
		case "oauth2/v2.0/token":
			s.countRequest("token", tenant)
			s.serveToken(w, r, tenant)
			return
		}
	}
	s.countRequest("notfound", "")
	writeJSON(w, http.StatusNotFound, map[string]string{
		"error":             "not_found",
		"error_description": fmt.Sprintf("emulator: no route for %s %s", r.Method, path),
	})
}

// baseURL is the scheme and host the client used to reach the emulator, for absolute links.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeRaw(w, status, "application/json; charset=utf-8", b)
}

func writeRaw(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// rand22 returns a random 22-character base64url string, the shape of Entra's aio and uti claims.
func rand22() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newGUID returns a random version-4 UUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatGUID(b)
}

func formatGUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
