// Package graphdata reads directory data of one tenant from Microsoft Graph
// and hands it on as plain rows.
//
// # Clients
//
// [Collector] builds one msgraph-sdk-go client per tenant on a credential from
// its [CredentialSource]. Every request goes through the SDK's middleware
// (retries, redirects, compression), then through a counter of its own
// Collect, and then through one [Transport] of ours, shared by all tenants of
// a run, where budgets across tenants belong.
//
// The SDK sends a bearer token only to hosts on its valid-host list and
// silently sends none elsewhere, so the list is built from the configured
// Graph endpoint.
//
// # Rows
//
// Collections are read with $select (only the columns the report shows) and
// the endpoint's largest $top (userRegistrationDetails documents neither, so
// it is read again without them if Graph refuses them), following
// @odata.nextLink page by page; each row is passed to the caller as it is
// decoded, so no collection is held in memory whole.
//
// Graph's wire format stays here, in types private to each collector; what
// is passed on is the section's row type from package section (plain
// strings, numbers, time.Time, and *bool where Graph may not say). A value
// that does not decode leaves its cell blank and counts a warning; it never
// costs the page.
package graphdata

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"golang.org/x/sync/errgroup"

	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// CredentialSource returns the Graph credential of a tenant and explains
// its token failures. *tenantauth.Source satisfies it.
type CredentialSource interface {
	For(tenantID string) (azcore.TokenCredential, error)
	Diagnose(tenantID string, err error) error
}

// Collector reads the report's data of one tenant at a time. It is safe for
// concurrent use by one goroutine per tenant.
type Collector struct {
	Credentials CredentialSource
	// Endpoint is the Graph endpoint without /v1.0, e.g. https://graph.microsoft.com.
	Endpoint string
	// Scope is the Graph resource's scope, e.g. https://graph.microsoft.com/.default.
	Scope string
	// Transport carries every Graph request of the run.
	Transport *Transport
	// Sections are the enabled sections, in report order (settings.AllSections):
	// what Collect reads when its caller names none.
	Sections []string
	// Now is the clock credential expiry and inactivity are measured
	// against (nil = time.Now).
	Now func() time.Time
	// Waste is when a licence's unassigned seats are flagged.
	Waste Waste
}

// Organization is the tenant's own record.
type Organization struct {
	ID            string `json:"id"`
	DisplayName   string `json:"displayName"`
	DefaultDomain string `json:"defaultDomain"`
}

// SectionStatus is the outcome of one section of one tenant.
type SectionStatus string

const (
	SectionOK SectionStatus = "ok"
	// SectionUnavailable is a section the tenant cannot serve (no licence,
	// permission not granted): expected, and explained, not an error.
	SectionUnavailable SectionStatus = "not available"
	SectionFailed      SectionStatus = "failed"
)

// SectionResult is what happened to one section of one tenant.
type SectionResult struct {
	Section string        `json:"section"`
	Status  SectionStatus `json:"status"`
	Reason  string        `json:"reason,omitempty"`
	Rows    int           `json:"rows"`
	// Warnings counts values Graph sent that could not be read and were
	// left blank.
	Warnings  int           `json:"warnings"`
	Requests  int           `json:"requests"`
	Throttled int           `json:"throttled"`
	Retries   int           `json:"retries"`
	Duration  time.Duration `json:"durationNs"`
}

// Result is what was collected of one tenant.
type Result struct {
	Organization Organization `json:"organization,omitzero"`
	Users        int          `json:"users"`
	EnabledUsers int          `json:"enabledUsers"`
	Guests       int          `json:"guests"`
	// Requests, Throttled and Retries count this Collect's Graph requests
	// as they went over the wire, retries included; another Collect of the
	// same tenant at the same time counts its own.
	Requests  int `json:"requests"`
	Throttled int `json:"throttled"`
	Retries   int `json:"retries"`
	// Roles are the application permissions in the tenant's Graph token.
	Roles []string `json:"roles,omitempty"`
	// Sections has one entry per section read, in report order; empty when
	// the tenant could not be reached at all.
	Sections []SectionResult `json:"sections,omitempty"`
	Totals
}

// Section returns the outcome of the named section, if it was attempted.
func (r Result) Section(name string) (SectionResult, bool) {
	for _, s := range r.Sections {
		if s.Section == name {
			return s, true
		}
	}
	return SectionResult{}, false
}

// Totals are a tenant's figures for the Summary, each valid where its
// section is ok.
type Totals struct {
	InactiveUsers          int                  `json:"inactiveUsers"`
	UnusedLicences         int                  `json:"unusedLicences"`
	RoleAssignments        int                  `json:"roleAssignments"`
	FlaggedRoleAssignments int                  `json:"flaggedRoleAssignments"`
	MFAMembers             int                  `json:"mfaMembers"`
	MFARegistered          int                  `json:"mfaRegistered"`
	AdminsWithoutMFA       int                  `json:"adminsWithoutMfa"`
	EnabledCAPolicies      int                  `json:"enabledCaPolicies"`
	ExpiredCredentials     int                  `json:"expiredCredentials"`
	ExpiringCredentials    int                  `json:"expiringCredentials"`
	SecureScore            *section.SecureScore `json:"secureScore,omitempty"`
}

// userFields are the properties of the Users sheet; $select keeps Graph
// from sending (and charging resource units for) the rest.
var userFields = []string{
	"id", "displayName", "userPrincipalName", "mail", "userType", "accountEnabled",
	"createdDateTime", "externalUserState", "jobTitle", "department",
}

// Job is one tenant's part of a run.
type Job struct {
	Tenant settings.Tenant
	// Sections are the sections to read (nil: the Collector's Sections).
	Sections []string
	// Size is what the run knows of the tenant (the zero value: nothing).
	// Users sets its directory budget and its requests' priorities; a
	// tenant known to have no Entra ID P1/P2 is not asked for what needs
	// it (Graph would refuse, and charge the refusal to budgets other
	// tenants need).
	Size
}

// Collect reads job's sections of its tenant, passing each row to emit
// with its section's name (users: a [User]). When the Transport paces, the
// sections are read at the same time, and emit must be safe for
// concurrent use; otherwise one after another, in report order. A failed
// token exchange is returned as a *tenantauth.Error with its diagnosis,
// before any Graph request. A section the token lacks permissions for is
// not requested: it is reported as not available, naming the permissions.
// A section Graph fails is reported as failed; the other sections carry
// on.
func (c *Collector) Collect(ctx context.Context, jb Job, emit func(section string, row any) error) (res Result, err error) {
	names := jb.Sections
	if names == nil {
		names = c.Sections
	}
	results := map[string]*SectionResult{}
	counts := map[string]*counter{}
	// book counts each section's requests, and the tenant's, once.
	book := sync.OnceFunc(func() {
		if jb.countRequests != nil {
			st := jb.countRequests.stats()
			res.Requests, res.Throttled, res.Retries = st.Requests, st.Throttled, st.Retries
		}
		for _, name := range names {
			if sr := results[name]; sr != nil {
				st := counts[name].stats()
				sr.Requests, sr.Throttled, sr.Retries = st.Requests, st.Throttled, st.Retries
				res.Requests += st.Requests
				res.Throttled += st.Throttled
				res.Retries += st.Retries
			}
		}
	})
	defer book()

	t := jb.Tenant
	var cred azcore.TokenCredential
	cred, res.Roles, err = c.exchange(ctx, t)
	if err != nil {
		return res, err
	}
	gs, err := c.client(cred)
	if err != nil {
		return res, err
	}

	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	for _, name := range names {
		sec, ok := section.Lookup(name)
		if !ok {
			return res, fmt.Errorf("graphdata: unknown section %q", name)
		}
		sr := &SectionResult{Section: name}
		results[name], counts[name] = sr, new(counter)
		if name == "licences" && jb.skus != nil {
			counts[name] = jb.skuRequests
		}
		if missing := Missing(sec, res.Roles); len(missing) > 0 {
			sr.Status, sr.Reason = SectionUnavailable, notGranted(missing)
		} else if sec.Premium && !jb.premium() {
			sr.Status, sr.Reason = SectionUnavailable, "needs Entra ID P1/P2"
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	if !c.Transport.paced() {
		g.SetLimit(1) // section after section, as a loop without pacing reads
	}
	claimed := map[string]bool{}
	for _, name := range names {
		// A section with a status is settled (not available); the users
		// family is read by one pull, started by its first member. (Claimed
		// is asked first: a pull already running writes its members'
		// status.)
		if claimed[name] || results[name].Status != "" {
			continue
		}
		claimed[name] = true
		family := []string{name}
		if slices.Contains(usersFamily, name) {
			family = slices.DeleteFunc(slices.Clone(usersFamily), func(n string) bool {
				return results[n] == nil || results[n].Status != ""
			})
			for _, n := range family {
				claimed[n] = true
			}
		}
		col := &collection{gs: gs, adapter: gs.GetAdapter(), res: &res, emit: emit, now: now().UTC(), sections: names, waste: c.Waste}
		if name == "licences" {
			col.skus, col.warnings = jb.skus, jb.skuWarnings
		}
		j := &job{tenant: t.ID, users: cmp.Or(jb.Users, -1), pages: pages(name, family, jb.Users), count: counts[family[0]]}
		g.Go(func() error {
			return c.collectSection(withJob(gctx, j), col, family, results)
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	book()
	for _, name := range names {
		res.Sections = append(res.Sections, *results[name])
	}
	return res, nil
}

// TimeLimitError is the cause of a context that a tenant's time limit
// ended: the sections still being read are failed with it, and those read
// already are kept.
type TimeLimitError struct{ Limit time.Duration }

func (e *TimeLimitError) Error() string {
	return fmt.Sprintf("timed out: the tenant's time limit of %s ran out", e.Limit)
}

// Preflight checks what every tenant's token exchange depends on, once:
// the managed identity's token (when the Credentials can check it). A run
// whose identity is broken fails with that one error instead of one per
// tenant, each after its own retries.
func (c *Collector) Preflight(ctx context.Context) error {
	if m, ok := c.Credentials.(interface{ CheckManagedIdentity(context.Context) error }); ok {
		return m.CheckManagedIdentity(ctx)
	}
	return nil
}

// exchange gets tenant t's Graph token, on its own, so a failure is
// diagnosed as the exchange it is rather than surfacing from inside the
// first Graph request, and returns the credential and the token's roles.
// The token is cached by the credential; EnableCAE matches what the SDK
// asks for, so the SDK's requests hit that cache entry.
func (c *Collector) exchange(ctx context.Context, t settings.Tenant) (azcore.TokenCredential, []string, error) {
	cred, err := c.Credentials.For(t.ID)
	if err != nil {
		return nil, nil, err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.Scope}, EnableCAE: true})
	if err != nil {
		return nil, nil, c.Credentials.Diagnose(t.ID, err)
	}
	roles, err := tokenRoles(tok.Token)
	return cred, roles, err
}

// pages predicts how many requests the section name (with the rest of
// its family) takes in a tenant of users users (0: unknown).
func pages(name string, family []string, users int) int {
	per := 0
	switch {
	case slices.Contains(family, "signin"):
		per = topSignIn
	case name == "users" || name == "guests" || name == "mfa" || name == "devices":
		per = topDirectory
	}
	if per == 0 || users <= 0 {
		return 1
	}
	return (users + per - 1) / per
}

// collectors read each section but the users family, by name: each writes
// its rows and returns how many.
var collectors = map[string]func(*collection, context.Context) (int, error){
	"tenant":            (*collection).tenant,
	"licences":          (*collection).licences,
	"roles":             (*collection).roles,
	"mfa":               (*collection).mfa,
	"devices":           (*collection).devices,
	"conditionalaccess": (*collection).conditionalAccess,
	"appcredentials":    (*collection).appCredentials,
	"securescore":       (*collection).secureScore,
}

// usersFamily are the sections served by one pull of /users.
var usersFamily = []string{"users", "signin", "guests"}

// collectSection reads the sections of family (one section, or the
// members of the users family that one pull serves, the first booking the
// requests), filling in results. It returns an error only when the
// tenant's data cannot be trusted (a spool write failed) or the context
// ended.
func (c *Collector) collectSection(ctx context.Context, col *collection, family []string, results map[string]*SectionResult) error {
	name := family[0]
	sec, _ := section.Lookup(name)
	start := time.Now()
	var (
		rows int
		err  error
	)
	sr := results[name]
	if slices.Contains(usersFamily, name) {
		signin := results["signin"]
		withSignIn := slices.Contains(family, "signin")
		rows, err = col.users(ctx, withSignIn)
		if reason, ok := premiumRefused(err, sec); withSignIn && ok {
			// The only difference is signInActivity: read the rest without it.
			signin.Status, signin.Reason = SectionUnavailable, reason
			rows, err = col.users(ctx, false)
		}
		for _, n := range family[1:] {
			if r := results[n]; r.Status == "" {
				r.Rows = rows
				if n == "guests" {
					r.Rows = col.res.Guests
				}
				c.finish(r, err, sec)
			}
		}
		if name == "guests" {
			rows = col.res.Guests
		}
	} else {
		collect, ok := collectors[name]
		if !ok {
			return fmt.Errorf("graphdata: no collector for section %q", name)
		}
		rows, err = collect(col, ctx)
	}
	sr.Duration, sr.Warnings, sr.Rows = time.Since(start), col.warnings, rows
	if ctx.Err() != nil {
		// A tenant's own time limit cuts this section short; the others
		// keep what they read. Anything else ends the tenant.
		var limit *TimeLimitError
		if !errors.As(context.Cause(ctx), &limit) {
			return ctx.Err()
		}
		for _, n := range family {
			if r := results[n]; r.Status == "" || n == name {
				r.Status, r.Reason = SectionFailed, limit.Error()
			}
		}
		return nil
	}
	if err != nil {
		var ge *GraphError
		if !errors.As(err, &ge) {
			// Not Graph's answer (a spool write failed, say): the tenant's
			// data cannot be trusted.
			return err
		}
	}
	c.finish(sr, err, sec)
	return nil
}

// finish sets a section's status from its error.
func (c *Collector) finish(sr *SectionResult, err error, sec section.Section) {
	var ge *GraphError
	reason, premium := premiumRefused(err, sec)
	switch {
	case err == nil:
		sr.Status = SectionOK
	case premium:
		sr.Status, sr.Reason = SectionUnavailable, reason
	case errors.As(err, &ge):
		sr.Status, sr.Reason = SectionFailed, ge.Explain(sec)
	default:
		sr.Status, sr.Reason = SectionFailed, err.Error()
	}
}

// premiumRefused reports whether err is Graph refusing a premium-only read
// of sec, and why, for a reader of the report.
func premiumRefused(err error, sec section.Section) (reason string, ok bool) {
	var ge *GraphError
	switch {
	case errors.Is(err, errPremiumCheck) && errors.As(err, &ge):
		return ge.Explain(sec), true
	case errors.Is(err, errNotPremium):
		return "needs Entra ID P1/P2", true
	}
	return "", false
}

func notGranted(missing []string) string {
	if len(missing) == 1 {
		return "permission " + missing[0] + " not granted"
	}
	return "permissions " + strings.Join(missing, ", ") + " not granted"
}

// client returns a Graph client of one tenant whose requests go through the
// SDK's middleware, then c.Transport. When the Transport paces, it retries
// too, and the SDK's retry handler is told not to: the SDK would wait out a
// Retry-After in whole seconds on top of the pacing.
func (c *Collector) client(cred azcore.TokenCredential) (*msgraphsdk.GraphServiceClient, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("graphdata: endpoint %q: %w", c.Endpoint, err)
	}
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{c.Scope}, []string{u.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graphdata: %w", err)
	}
	opts := msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: msgraphsdk.GetDefaultClientOptions().GraphServiceLibraryVersion}
	middleware := msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)
	if c.Transport.paced() {
		for i, m := range middleware {
			if _, ok := m.(*khttp.RetryHandler); ok {
				middleware[i] = khttp.NewRetryHandlerWithOptions(khttp.RetryHandlerOptions{
					ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool { return false },
				})
			}
		}
	}
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(c.Transport, middleware...)}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		return nil, fmt.Errorf("graphdata: %w", err)
	}
	adapter.SetBaseUrl(c.Endpoint + "/v1.0")
	// Not msgraphsdk.NewGraphServiceClient: it passes kiota's process-wide
	// backing store factory to EnableBackingStore, which writes it back to
	// that global (the same value) while other tenants' responses are
	// being parsed into models, whose constructors read it: a data race
	// that serialising the clients' construction did not remove (-race
	// found it in TestSoak). With a nil factory EnableBackingStore leaves
	// the global alone and does the rest (per adapter, or under the
	// registries' own locks).
	return &msgraphsdk.GraphServiceClient{GraphBaseServiceClient: *msgraphsdk.NewGraphBaseServiceClient(adapter, nil)}, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
