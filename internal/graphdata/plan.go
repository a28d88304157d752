package graphdata

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"golang.org/x/sync/errgroup"

	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// Size is what a run knows of a tenant before reading it: enough to
// predict its requests.
type Size struct {
	// Users is the number of users (0: not known).
	Users int `json:"users"`
	// Premium is whether the tenant has Entra ID P1/P2, which sign-in
	// activity and MFA registration need (nil: not known).
	Premium *bool `json:"premium,omitempty"`
	// Latency is how long Graph took to answer the survey's request.
	Latency time.Duration `json:"-"`
	// roles are the tenant's Graph permissions, and skus its subscribed
	// SKUs, when surveyed.
	roles       []string
	skus        []skuItem
	skuWarnings int
	// countRequests and skuRequests count the survey's requests, which the
	// tenant's Result includes (those of its SKUs on the licences section).
	countRequests, skuRequests *counter
}

// premium reports whether the tenant may have Entra ID P1/P2: yes unless
// it is known not to.
func (s Size) premium() bool { return s.Premium == nil || *s.Premium }

// Survey asks Graph how large tenant t is: /users/$count (an advanced
// query, so with ConsistencyLevel: eventual) and its subscribed SKUs,
// which say whether it has Entra ID P1/P2 and which the licences section
// then shows without reading them again. Two requests, side by side; what
// either fails to tell stays unknown. The error is a failed token
// exchange.
func (c *Collector) Survey(ctx context.Context, t settings.Tenant) (Size, error) {
	cred, roles, err := c.exchange(ctx, t)
	if err != nil {
		return Size{}, err
	}
	gs, err := c.client(cred)
	if err != nil {
		return Size{}, err
	}
	size := Size{roles: roles, countRequests: new(counter), skuRequests: new(counter)}
	var g errgroup.Group
	gctx := ctx
	g.Go(func() error {
		ri := abs.NewRequestInformation()
		ri.Method = abs.GET
		ri.UrlTemplate = "{+baseurl}/users/$count"
		ri.PathParameters = map[string]string{"baseurl": gs.GetAdapter().GetBaseUrl()}
		ri.Headers.TryAdd("ConsistencyLevel", "eventual")
		ri.Headers.TryAdd("Accept", "text/plain")
		ctx := withJob(gctx, &job{tenant: t.ID, users: -1, pages: 1, count: size.countRequests})
		start := time.Now()
		raw, err := gs.GetAdapter().SendPrimitive(ctx, ri, "[]byte", errorMapping)
		size.Latency = time.Since(start)
		if err != nil {
			return graphError("users/$count", err)
		}
		b, _ := raw.([]byte)
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || n < 0 {
			return &GraphError{Op: "users/$count", Status: 200, Code: "MalformedResponse", Msg: fmt.Sprintf("not a count: %.40q", b)}
		}
		size.Users = n
		return nil
	})
	g.Go(func() error {
		// The licences section shows these SKUs: it is not read again.
		col := &collection{gs: gs, adapter: gs.GetAdapter()}
		skus, err := readSkus(withJob(gctx, &job{tenant: t.ID, users: -1, pages: 1, count: size.skuRequests}), col)
		if err == nil {
			premium := slices.ContainsFunc(skus, skuItem.premium)
			size.Premium, size.skus, size.skuWarnings = &premium, skus, col.warnings
		}
		return nil
	})
	_ = g.Wait() // what failed stays unknown
	return size, nil
}

// Plan is a run's prediction: the requests it will make of each budget,
// and its longest chain of requests one after another.
type Plan struct {
	t       *Transport
	buckets map[string]*planned
	start   time.Time
	chain   time.Duration
}

type planned struct {
	charge  float64 // units per request
	units   float64 // predicted units of the run
	rate    float64 // per second, scaled
	burst   float64
	granted float64 // units the bucket had served when the plan was made
}

// Planned is one tenant as a run predicts it. A tenant whose token
// exchange failed makes no requests: leave it out.
type Planned struct {
	Tenant   string
	Size     Size
	Sections []string
}

// Plan predicts the requests a run of tenants makes of each budget, and
// its longest chain of requests one after another (a tenant's token
// exchange, then the pages of its longest section), each taking the
// latency the surveys saw: their 90th percentile, as a run ends with its
// slowest chain, whose requests are in the tail. The prediction is what
// Graph's budgets and the chains allow at best.
func (t *Transport) Plan(tenants []Planned, since Mark) *Plan {
	p := &Plan{t: t, buckets: map[string]*planned{}, start: since.at}
	if !t.paced() {
		return p
	}
	var seen []time.Duration
	for _, tn := range tenants {
		if tn.Size.Latency > 0 {
			seen = append(seen, tn.Size.Latency)
		}
	}
	var latency time.Duration
	if len(seen) > 0 {
		slices.Sort(seen)
		latency = seen[len(seen)*9/10]
	}
	for _, tn := range tenants {
		j := &job{tenant: tn.Tenant, users: tn.Size.Users}
		chains := map[string]int{}
		for _, r := range predictRequests(tn) {
			chains[r.section] += r.n
			p.chain = max(p.chain, time.Duration(1+chains[r.section])*latency)
			for _, c := range t.charges(j, r.request) {
				if c.Limit.Rate == 0 {
					continue
				}
				b := p.buckets[c.Key]
				if b == nil {
					b = &planned{rate: c.Limit.Rate, burst: c.Limit.Burst, granted: since.granted[c.Key]}
					p.buckets[c.Key] = b
				}
				b.units += c.Units * float64(r.n)
			}
		}
	}
	return p
}

// Mark is what the budgets had served at a moment: a plan made later
// counts what was served since as done.
type Mark struct {
	at      time.Time
	granted map[string]float64
}

// Mark returns the budgets as they are now, for a [Transport.Plan] made
// once the tenants' sizes are known.
func (t *Transport) Mark() Mark {
	m := Mark{at: time.Now()}
	if t.paced() {
		m.granted = t.sched.Served()
	}
	return m
}

// Remaining is how long the rest of the plan takes at best, from what the
// budgets have served since it was made. A budget starts with a full
// bucket, so its first burst costs no time.
func (p *Plan) Remaining() time.Duration {
	if p == nil || p.t == nil || !p.t.paced() {
		return 0
	}
	worst := (p.chain - time.Since(p.start)).Seconds()
	for key, b := range p.buckets {
		done := p.t.sched.Granted(key) - b.granted
		left := b.units - done
		if done < b.burst {
			left -= b.burst - done
		}
		worst = math.Max(worst, left/b.rate)
	}
	return time.Duration(max(worst, 0) * float64(time.Second))
}

// predicted is n requests like request, one after another, of a section.
type predicted struct {
	request
	section string
	n       int
}

// predictRequests lists the requests a tenant's sections make, in the
// order each section makes them. Collections whose size the survey does
// not tell (devices, role assignments, apps) are predicted as one page per
// 999 users, at least one.
func predictRequests(tn Planned) []predicted {
	pagesOf := func(per int) int { return max(1, (tn.Size.Users+per-1)/per) }
	var out []predicted
	add := func(name, request string, n int) {
		u, _ := url.Parse("/v1.0" + request)
		out = append(out, predicted{classify(u), name, n})
	}
	has := func(name string) bool {
		sec, ok := section.Lookup(name)
		return ok && slices.Contains(tn.Sections, name) && (tn.Size.roles == nil || len(Missing(sec, tn.Size.roles)) == 0)
	}
	switch {
	case has("signin") && tn.Size.premium():
		add("users", "/users?$select=id,signInActivity&$top="+strconv.Itoa(topSignIn), pagesOf(topSignIn))
	case has("users") || has("guests") || has("signin"):
		add("users", "/users?$select=id&$top="+strconv.Itoa(topDirectory), pagesOf(topDirectory))
	}
	if has("tenant") {
		add("tenant", "/organization?$select=id", 1)
		add("tenant", "/domains", 1)
	}
	if has("licences") && tn.Size.skus == nil {
		add("licences", "/subscribedSkus?$select=skuId", 1)
	}
	if has("roles") {
		add("roles", "/roleManagement/directory/roleDefinitions?$select=id", 1)
		add("roles", "/roleManagement/directory/roleAssignments?$expand=principal", 1)
	}
	if has("mfa") && tn.Size.premium() {
		add("mfa", "/reports/authenticationMethods/userRegistrationDetails", pagesOf(topRegistered))
	}
	if has("devices") {
		add("devices", "/devices?$select=id&$top="+strconv.Itoa(topDirectory), pagesOf(topDirectory))
	}
	if has("conditionalaccess") {
		add("conditionalaccess", "/identity/conditionalAccess/policies", 1)
	}
	if has("appcredentials") {
		add("appcredentials", "/applications?$select=id,keyCredentials&$top="+strconv.Itoa(topDirectory), 1)
		add("appcredentials", "/servicePrincipals?$select=id,keyCredentials&$top="+strconv.Itoa(topDirectory), 1)
	}
	if has("securescore") {
		add("securescore", "/security/secureScores?$top=1", 1)
	}
	return out
}

// Mark marks the budgets before a run (see [Transport.Mark]).
func (c *Collector) Mark() Mark { return c.Transport.Mark() }

// Plan predicts a run of tenants (see [Transport.Plan]).
func (c *Collector) Plan(tenants []Planned, since Mark) *Plan {
	return c.Transport.Plan(tenants, since)
}
