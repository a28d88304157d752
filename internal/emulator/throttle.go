package emulator

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration string, e.g. "10s" or "250ms".
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Throttle families: each Graph route draws on the global budget and on its family's.
const (
	FamilyGlobal            = "global"            // every Graph request: 130,000 per 10 s per app
	FamilyDirectory         = "directory"         // identity and access, in resource units
	FamilySignIn            = "signin"            // /users with signInActivity
	FamilyReports           = "reports"           // /reports/authenticationMethods/userRegistrationDetails
	FamilyConditionalAccess = "conditionalAccess" // /identity/conditionalAccess/policies; 429 without Retry-After
	FamilyKeyCredentials    = "keyCredentials"    // /applications and /servicePrincipals with $select=keyCredentials
	FamilySecureScore       = "secureScore"       // /security/secureScores
)

// Budget scopes.
const (
	ScopeTenant = "tenant" // per app per tenant
	ScopeApp    = "app"    // per app across all tenants
)

// Budget is one documented Graph limit, modelled as a token bucket of Limit units that refills Limit units per
// Window (the window scaled by World.TimeScale).
type Budget struct {
	Family string `json:"family"`
	Scope  string `json:"scope"`
	// Size restricts a directory tenant budget to tenants of a size: "S" (under 50 users), "M" (50–500) or "L"
	// (over 500); "" applies to every size.
	Size string `json:"size,omitempty"`
	// Limit is requests per window (resource units for the directory family). 0 lifts the budget.
	Limit  float64  `json:"limit"`
	Window Duration `json:"window"`
	// Concurrency caps requests in flight in the scope; 0 means no cap.
	Concurrency int `json:"concurrency,omitempty"`
	// NoRetryAfter sends the 429 without a Retry-After header, as the Conditional Access service does.
	NoRetryAfter bool `json:"noRetryAfter,omitempty"`
}

// Throttling adjusts Graph's budgets for a world.
type Throttling struct {
	// Disabled turns every budget off.
	Disabled bool `json:"disabled,omitempty"`
	// Budgets replace the default with the same family, scope and size, or add to them.
	Budgets []Budget `json:"budgets,omitempty"`
}

// DefaultBudgets returns Graph's budgets (DESIGN.md §5), in a stable order. The package documentation says which
// are documented on Microsoft's throttling limits page and which are carried over or assumed:
//
//	global            app     130,000 requests / 10 s                          documented
//	directory         tenant  S 3,500, M 5,000, L 8,000 resource units / 10 s  documented
//	directory         app     150,000 resource units / 20 s                    documented
//	signin            tenant  10 requests / min                                DESIGN.md §5
//	signin            app     10 requests / min (across all tenants)           DESIGN.md §5
//	reports           tenant  5 requests / 10 s                                documented; userRegistrationDetails assumed in it
//	reports           app     122 requests / 10 s                              DESIGN.md §5
//	conditionalAccess tenant  1 request / s, 429 without Retry-After           documented (per tenant for all apps)
//	keyCredentials    tenant  150 requests / min                               DESIGN.md §5
//	secureScore       tenant  150 requests / min, at most 4 in flight          DESIGN.md §5
func DefaultBudgets() []Budget {
	sec := func(n int) Duration { return Duration(time.Duration(n) * time.Second) }
	return []Budget{
		{Family: FamilyGlobal, Scope: ScopeApp, Limit: 130000, Window: sec(10)},
		{Family: FamilyDirectory, Scope: ScopeTenant, Size: "S", Limit: 3500, Window: sec(10)},
		{Family: FamilyDirectory, Scope: ScopeTenant, Size: "M", Limit: 5000, Window: sec(10)},
		{Family: FamilyDirectory, Scope: ScopeTenant, Size: "L", Limit: 8000, Window: sec(10)},
		{Family: FamilyDirectory, Scope: ScopeApp, Limit: 150000, Window: sec(20)},
		{Family: FamilySignIn, Scope: ScopeTenant, Limit: 10, Window: sec(60)},
		{Family: FamilySignIn, Scope: ScopeApp, Limit: 10, Window: sec(60)},
		{Family: FamilyReports, Scope: ScopeTenant, Limit: 5, Window: sec(10)},
		{Family: FamilyReports, Scope: ScopeApp, Limit: 122, Window: sec(10)},
		{Family: FamilyConditionalAccess, Scope: ScopeTenant, Limit: 1, Window: sec(1), NoRetryAfter: true},
		{Family: FamilyKeyCredentials, Scope: ScopeTenant, Limit: 150, Window: sec(60)},
		{Family: FamilySecureScore, Scope: ScopeTenant, Limit: 150, Window: sec(60), Concurrency: 4},
	}
}

var families = []string{FamilyGlobal, FamilyDirectory, FamilySignIn, FamilyReports, FamilyConditionalAccess,
	FamilyKeyCredentials, FamilySecureScore}

func (t *Throttling) validate(field string) error {
	if t == nil {
		return nil
	}
	for i, b := range t.Budgets {
		p := fmt.Sprintf("%s.budgets[%d]", field, i)
		switch {
		case !contains(families, b.Family):
			return &FieldError{Field: p + ".family", Value: b.Family, Err: fmt.Errorf("%w (one of %s)", ErrOutOfRange, strings.Join(families, ", "))}
		case b.Scope != ScopeTenant && b.Scope != ScopeApp:
			return &FieldError{Field: p + ".scope", Value: b.Scope, Err: fmt.Errorf("%w (tenant or app)", ErrOutOfRange)}
		case b.Size != "" && (b.Family != FamilyDirectory || b.Scope != ScopeTenant || !contains([]string{"S", "M", "L"}, b.Size)):
			return &FieldError{Field: p + ".size", Value: b.Size, Err: fmt.Errorf("%w (S, M or L on a directory tenant budget)", ErrOutOfRange)}
		case !(b.Limit >= 0) || math.IsInf(b.Limit, 0):
			return &FieldError{Field: p + ".limit", Value: fmt.Sprint(b.Limit), Err: ErrOutOfRange}
		case b.Limit > 0 && b.Window <= 0:
			return &FieldError{Field: p + ".window", Value: time.Duration(b.Window).String(), Err: ErrOutOfRange}
		case b.Concurrency < 0:
			return &FieldError{Field: p + ".concurrency", Value: fmt.Sprint(b.Concurrency), Err: ErrOutOfRange}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// budgets returns the world's effective budgets: the defaults with the world's overrides applied.
func (w *World) budgets() []Budget {
	if w.Throttling != nil && w.Throttling.Disabled {
		return nil
	}
	out := DefaultBudgets()
	if w.Throttling == nil {
		return out
	}
	for _, o := range w.Throttling.Budgets {
		replaced := false
		for i, b := range out {
			if b.Family == o.Family && b.Scope == o.Scope && (b.Size == o.Size || o.Size == "") {
				out[i] = o
				out[i].Size = b.Size
				replaced = true
			}
		}
		if !replaced {
			out = append(out, o)
		}
	}
	return out
}

// charge is what one request draws from a family.
type charge struct {
	family string
	units  float64
}

// sizeOf is Graph's tenant size class for the directory budget.
func sizeOf(users int) string {
	switch {
	case users < 50:
		return "S"
	case users <= 500:
		return "M"
	}
	return "L"
}

// bucket is a token bucket.
type bucket struct {
	tokens   float64
	last     time.Time
	inFlight int
}

// throttler holds every budget's buckets. It is safe for concurrent use.
type throttler struct {
	budgets []Budget
	scale   float64

	mu      sync.Mutex
	buckets map[string]*bucket // by family/scope/size/tenant
}

// rejection describes a 429.
type rejection struct {
	budget     Budget
	retryAfter time.Duration // already scaled
	reason     string
}

// window returns b's window after time scaling.
func (th *throttler) window(b Budget) time.Duration {
	return time.Duration(float64(b.Window) * th.scale)
}

// take draws charges for a request to tenantID (of the given user count) at now. It either consumes from every
// applicable bucket and returns a release func for the concurrency slots, or consumes nothing and returns the
// first budget that refused.
func (th *throttler) take(now time.Time, tenantID string, users int, charges []charge) (release func(), rej *rejection) {
	if th == nil || len(th.budgets) == 0 {
		return func() {}, nil
	}
	type hit struct {
		b     *bucket
		units float64
		conc  bool
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	var hits []hit
	size := sizeOf(users)
	for _, c := range charges {
		for _, b := range th.budgets {
			if b.Family != c.family || (b.Size != "" && b.Size != size) || (b.Limit == 0 && b.Concurrency == 0) {
				continue
			}
			key := b.Family + "/" + b.Scope + "/" + b.Size
			if b.Scope == ScopeTenant {
				key += "/" + tenantID
			}
			bk := th.buckets[key]
			if bk == nil {
				bk = &bucket{tokens: b.Limit, last: now}
				th.buckets[key] = bk
			}
			if b.Concurrency > 0 && bk.inFlight >= b.Concurrency {
				return nil, &rejection{budget: b, retryAfter: time.Duration(float64(time.Second) * th.scale), reason: "ConcurrencyLimitExceeded"}
			}
			if b.Limit > 0 {
				w := th.window(b)
				if el := now.Sub(bk.last); el > 0 {
					if w <= 0 {
						bk.tokens = b.Limit
					} else {
						bk.tokens = math.Min(b.Limit, bk.tokens+b.Limit*float64(el)/float64(w))
					}
					bk.last = now
				}
				units := math.Min(c.units, b.Limit)
				if bk.tokens+1e-9 < units {
					wait := time.Duration((units - bk.tokens) / b.Limit * float64(w))
					reason := "RequestLimitExceeded"
					if b.Family == FamilyDirectory {
						reason = "ResourceUnitLimitExceeded"
					}
					return nil, &rejection{budget: b, retryAfter: wait, reason: reason}
				}
				hits = append(hits, hit{bk, units, b.Concurrency > 0})
			} else {
				hits = append(hits, hit{bk, 0, true})
			}
		}
	}
	for _, h := range hits {
		h.b.tokens -= h.units
		if h.conc {
			h.b.inFlight++
		}
	}
	return func() {
		th.mu.Lock()
		defer th.mu.Unlock()
		for _, h := range hits {
			if h.conc {
				h.b.inFlight--
			}
		}
	}, nil
}

// usage returns the fraction of the directory tenant budget used, for x-ms-throttle-limit-percentage.
func (th *throttler) usage(tenantID string, users int) float64 {
	if th == nil {
		return 0
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	size := sizeOf(users)
	for _, b := range th.budgets {
		if b.Family == FamilyDirectory && b.Scope == ScopeTenant && (b.Size == "" || b.Size == size) && b.Limit > 0 {
			if bk := th.buckets[b.Family+"/"+b.Scope+"/"+b.Size+"/"+tenantID]; bk != nil {
				return 1 - bk.tokens/b.Limit
			}
		}
	}
	return 0
}

// setRetryAfter sets Retry-After to wait (already scaled) in whole seconds, at least 1, and, when the world's time
// is scaled, x-ms-retry-after-ms with the exact wait: Retry-After alone cannot carry less than a second, and azcore
// reads the other.
func (s *Server) setRetryAfter(h http.Header, wait time.Duration) {
	h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	if s.scale() != 1 {
		h.Set("x-ms-retry-after-ms", strconv.FormatInt(max(wait.Milliseconds(), 1), 10))
	}
}

// writeThrottled writes Graph's 429, with Retry-After (setRetryAfter) unless the budget sends none.
func (s *Server) writeThrottled(w http.ResponseWriter, r *http.Request, t *tenant, rej *rejection, route string) {
	b := rej.budget
	scope := "Tenant_Application"
	if b.Scope == ScopeApp {
		scope = "Application"
	}
	h := w.Header()
	h.Set("x-ms-throttle-scope", fmt.Sprintf("%s/Read/%s/%s", scope, strings.ToLower(s.world.BridgeApp.ClientID), t.ID))
	h.Set("x-ms-throttle-information", rej.reason)
	if !b.NoRetryAfter {
		s.setRetryAfter(h, rej.retryAfter)
	}
	s.count(func(m *Metrics) {
		m.TooManyRequests++
		m.Throttled[b.Family+"/"+b.Scope+" "+t.ID]++
		m.ThrottledRoutes[route+" "+t.ID]++
	})
	s.writeGraphError(w, r, graphError{http.StatusTooManyRequests, "TooManyRequests",
		"Too many requests. Please retry again later."})
}
