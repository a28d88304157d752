package graphdata

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Budget is one of Graph's limits on an app: Limit requests (resource
// units, for the directory family) per Window, for each tenant or across
// all tenants, and at most InFlight requests at once (0: no cap).
type Budget struct {
	Family string
	// PerTenant budgets are per app per tenant; the others per app across
	// all tenants.
	PerTenant bool
	// Size restricts a directory budget to tenants of a size band: "S"
	// (under 50 users), "M" (50–500) or "L" (more); "" applies to all.
	Size     string
	Limit    float64
	Window   time.Duration
	InFlight int
	// Source says whether Microsoft documents the figure or it is assumed.
	Source string
}

// Throttle families: every request draws on global and on its family's
// budgets.
const (
	familyGlobal            = "global"
	familyDirectory         = "directory"
	familySignIn            = "signin"
	familyReports           = "reports"
	familyConditionalAccess = "conditionalAccess"
	familyKeyCredentials    = "keyCredentials"
	familySecureScore       = "secureScore"
)

const (
	documented = "documented: learn.microsoft.com/graph/throttling-limits"
	design     = "assumed: DESIGN.md §5"
)

// Budgets are Graph's budgets that a run paces to (DESIGN.md §5, §6).
// Graph does not publish a concurrency limit except secure score's; its
// answers (Retry-After, x-ms-resource-unit, x-ms-throttle-limit-percentage)
// correct the model as a run goes.
var Budgets = []Budget{
	{Family: familyGlobal, Limit: 130_000, Window: 10 * time.Second, Source: documented},
	{Family: familyDirectory, PerTenant: true, Size: "S", Limit: 3_500, Window: 10 * time.Second, Source: documented + "#identity-and-access-service-limits"},
	{Family: familyDirectory, PerTenant: true, Size: "M", Limit: 5_000, Window: 10 * time.Second, Source: documented + "#identity-and-access-service-limits"},
	{Family: familyDirectory, PerTenant: true, Size: "L", Limit: 8_000, Window: 10 * time.Second, Source: documented + "#identity-and-access-service-limits"},
	{Family: familyDirectory, Limit: 150_000, Window: 20 * time.Second, Source: documented + "#identity-and-access-service-limits"},
	// The 2026 documentation's limit for signInActivity; older copies list
	// only the reports family's.
	{Family: familySignIn, PerTenant: true, Limit: 10, Window: time.Minute, Source: design},
	{Family: familySignIn, Limit: 10, Window: time.Minute, Source: design},
	// Documented for the reports APIs; userRegistrationDetails is assumed
	// to be one of them.
	{Family: familyReports, PerTenant: true, Limit: 5, Window: 10 * time.Second, Source: documented + "#reports-service-limits"},
	{Family: familyReports, Limit: 122, Window: 10 * time.Second, Source: design},
	// Conditional Access answers its 429 without Retry-After.
	{Family: familyConditionalAccess, PerTenant: true, Limit: 1, Window: time.Second, Source: documented + "#identity-protection-and-conditional-access-service-limits"},
	{Family: familyKeyCredentials, PerTenant: true, Limit: 150, Window: time.Minute, Source: design},
	{Family: familySecureScore, PerTenant: true, Limit: 150, Window: time.Minute, InFlight: 4, Source: design},
}

// sizeBand is Graph's tenant size band for the directory budget; a tenant
// of unknown size (users < 0) gets the smallest band's budget.
func sizeBand(users int) string {
	switch {
	case users < 50:
		return "S"
	case users <= 500:
		return "M"
	}
	return "L"
}

// directoryCost is the base cost in resource units of a GET on each
// collection that costs more than 1 (Graph's cost table).
var directoryCost = map[string]float64{"/users": 2, "/applications": 2, "/subscribedskus": 3}

// request is what pacing needs to know of one Graph request.
type request struct {
	family string
	// units is the request's directory cost in resource units.
	units float64
	// pageSize is the most items it can return.
	pageSize int
}

// classify tells a Graph request's family and cost from its URL, as
// Graph's documentation describes them.
func classify(u *url.URL) request {
	path := strings.ToLower(strings.TrimPrefix(u.Path, "/v1.0"))
	q := u.Query()
	sel := strings.ToLower(q.Get("$select"))
	r := request{family: familyDirectory, units: 1, pageSize: 100}
	if top, err := strconv.Atoi(q.Get("$top")); err == nil && top > 0 {
		r.pageSize = top
	}
	switch {
	case strings.HasPrefix(path, "/reports/"):
		r.family = familyReports
		return r
	case strings.HasPrefix(path, "/identity/conditionalaccess/"):
		r.family = familyConditionalAccess
		return r
	case strings.HasPrefix(path, "/security/securescores"):
		r.family, r.pageSize = familySecureScore, 1
		return r
	case strings.HasSuffix(path, "/$count"):
		r.pageSize = 1
		return r
	}
	if c, ok := directoryCost[path]; ok {
		r.units = c
	}
	if sel != "" {
		r.units--
	}
	if q.Has("$expand") {
		r.units++
	}
	if q.Has("$top") && r.pageSize < 20 {
		r.units--
	}
	r.units = max(r.units, 1)
	switch {
	case path == "/users" && strings.Contains(sel, "signinactivity"):
		r.family = familySignIn
	case (path == "/applications" || path == "/serviceprincipals") && strings.Contains(sel, "keycredentials"):
		r.family = familyKeyCredentials
	}
	return r
}
