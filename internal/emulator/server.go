package emulator

import (
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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

	mu       sync.Mutex
	m        Metrics
	inFlight map[string]int // Graph requests in flight by tenant; "" = every request
}

// Metrics is a snapshot of what a Server has served. The admin endpoint GET /_emulator/metrics serves it as JSON.
type Metrics struct {
	// Requests counts requests by "route tenant", e.g. "graph /users 2b8e4f1a-…" or "token 2b8e4f1a-…".
	// Routes are msi, discovery, keys, token, "graph " + the lower-case collection path (e.g. "graph /users",
	// "graph /rolemanagement/directory/roleassignments", "graph /$batch"; requests inside a batch count under their
	// own route too) and "notfound". The tenant is the one named in the path (Entra), the token's tid (Graph), or "-".
	Requests map[string]int `json:"requests"`
	// TokenErrors counts token-endpoint and managed-identity failures by "code tenant", e.g. "AADSTS700016 e4a1…".
	TokenErrors map[string]int `json:"tokenErrors"`
	// TokensIssued counts Graph tokens issued by the token endpoint; APITokensIssued its tokens for the world's
	// [API].
	TokensIssued    int `json:"tokensIssued"`
	APITokensIssued int `json:"apiTokensIssued"`
	// MITokensIssued counts tokens issued by the managed-identity endpoint.
	MITokensIssued int `json:"miTokensIssued"`
	// TooManyRequests counts 429 responses; Throttled splits them by "family/scope tenant" (e.g.
	// "signin/tenant 2b8e…", "signin/app 2b8e…") and ThrottledRoutes by "route tenant".
	TooManyRequests int            `json:"tooManyRequests"`
	Throttled       map[string]int `json:"throttled"`
	ThrottledRoutes map[string]int `json:"throttledRoutes"`
	// Faults counts injected faults by "kind tenant"; kinds are 5xx, reset, malformed and outage.
	Faults map[string]int `json:"faults"`
	// PeakConcurrency is the most Graph requests in flight at once per tenant; PeakConcurrencyAll the most
	// requests of any kind in flight at once.
	PeakConcurrency    map[string]int `json:"peakConcurrency"`
	PeakConcurrencyAll int            `json:"peakConcurrencyAll"`
}

// New returns a Server for a copy of w, with its generated tenants expanded ([World.Expand]; none when a group is
// invalid). It does not validate w (see [World.Validate]); for duplicate tenants the first one wins.
func New(w *World) *Server {
	s := &Server{}
	if w != nil {
		s.world = w.clone()
		_ = s.world.Expand() // an invalid group generates nothing; Validate reports it
	}
	return s
}

// state is everything derived from the world, built once.
type state struct {
	keys           atomic.Pointer[keyring] // replaced by RotateKey
	rotateMu       sync.Mutex              // serialises RotateKey
	identityHeader string
	tenants        map[string]*tenant // by lower-case id and initial domain
	throttle       *throttler
	recErr         map[string]error // recorded tenants whose files failed to load, by id
}

func (s *Server) state() *state {
	s.once.Do(func() {
		st := &state{
			identityHeader: rand.Text(),
			tenants:        map[string]*tenant{},
			throttle: &throttler{budgets: s.world.budgets(), scale: s.world.scale(),
				buckets: map[string]*bucket{}},
			recErr: map[string]error{},
		}
		st.keys.Store(&keyring{keys: []*signer{newSigner(&s.world, 0)}})
		anchor := s.now().UTC().Truncate(24 * time.Hour)
		if e, err := parseEpoch(s.world.Epoch); err == nil && s.world.Epoch != "" {
			anchor = e
		}
		for i := range s.world.Tenants {
			t := newTenant(&s.world, i)
			t.anchor = anchor
			t.chaos = newChaos(&s.world, t)
			if t.Recorded != "" {
				if err := t.loadRecording(&s.world); err != nil {
					st.recErr[t.ID] = err
				}
			}
			for _, k := range []string{strings.ToLower(t.ID), t.domain} {
				if _, dup := st.tenants[k]; !dup {
					st.tenants[k] = t
				}
			}
		}
		if home := strings.ToLower(s.world.HomeTenantID); home != "" && st.tenants[home] == nil {
			// The home tenant exists even when it is not a report target: it has the bridge app but no grants.
			t := newTenant(&World{Tenants: []Tenant{{ID: s.world.HomeTenantID, DisplayName: "Home",
				Grants: []string{}, Seed: s.world.Seed}}}, 0)
			t.anchor = anchor
			st.tenants[home] = t
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

// scale returns the world's time scale.
func (w *World) scale() float64 {
	if w.TimeScale <= 0 {
		return 1
	}
	return w.TimeScale
}

func (s *Server) scale() float64 { return s.world.scale() }

// scaled compresses a world duration by the time scale.
func (s *Server) scaled(d time.Duration) time.Duration { return time.Duration(float64(d) * s.scale()) }

// Metrics returns a snapshot of the counters. Every map is non-nil.
func (s *Server) Metrics() Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initMetrics()
	m := s.m
	m.Requests = maps.Clone(s.m.Requests)
	m.TokenErrors = maps.Clone(s.m.TokenErrors)
	m.Throttled = maps.Clone(s.m.Throttled)
	m.ThrottledRoutes = maps.Clone(s.m.ThrottledRoutes)
	m.Faults = maps.Clone(s.m.Faults)
	m.PeakConcurrency = maps.Clone(s.m.PeakConcurrency)
	return m
}

func (s *Server) initMetrics() {
	if s.m.Requests == nil {
		s.m.Requests = map[string]int{}
		s.m.TokenErrors = map[string]int{}
		s.m.Throttled = map[string]int{}
		s.m.ThrottledRoutes = map[string]int{}
		s.m.Faults = map[string]int{}
		s.m.PeakConcurrency = map[string]int{}
		s.inFlight = map[string]int{}
	}
}

func (s *Server) count(f func(m *Metrics)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initMetrics()
	f(&s.m)
}

func (s *Server) countFault(kind, tenant string) {
	s.count(func(m *Metrics) { m.Faults[kind+" "+tenant]++ })
}

// enter counts a request in flight for tenant ("" = any request) and returns the func that ends it.
func (s *Server) enter(tenant string) func() {
	s.count(func(m *Metrics) {
		s.inFlight[tenant]++
		if tenant == "" {
			m.PeakConcurrencyAll = max(m.PeakConcurrencyAll, s.inFlight[tenant])
		} else {
			m.PeakConcurrency[tenant] = max(m.PeakConcurrency[tenant], s.inFlight[tenant])
		}
	})
	return func() { s.count(func(*Metrics) { s.inFlight[tenant]-- }) }
}

func (s *Server) countRequest(route, tenant string) {
	if tenant == "" {
		tenant = "-"
	}
	s.count(func(m *Metrics) { m.Requests[route+" "+tenant]++ })
}

// ServeHTTP routes a request to the managed-identity, Entra ID, Graph or admin handlers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasPrefix(path, "/_emulator/") {
		s.serveAdmin(w, r)
		return
	}
	defer s.enter("")()
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") && r.Body != nil {
		// kiota's compression middleware gzips request bodies ($batch); Graph accepts them.
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "bad gzip body: " + err.Error()})
			return
		}
		defer zr.Close()
		r.Body = zr
		r.Header.Del("Content-Encoding")
	}
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
