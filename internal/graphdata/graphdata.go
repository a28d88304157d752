// Package graphdata reads directory data of one tenant from Microsoft Graph
// and hands it on as plain rows.
//
// # Clients
//
// [Collector] builds one msgraph-sdk-go client per tenant on a credential from
// its [CredentialSource]. Every request goes through the SDK's middleware
// (retries, redirects, compression) and then through one [Transport] of ours,
// shared by all tenants of a run, which counts requests and throttling per
// tenant and is where throttle budgets belong.
//
// The SDK sends a bearer token only to hosts on its valid-host list and
// silently sends none elsewhere, so the list is built from the configured
// Graph endpoint.
//
// # Rows
//
// Collections are read with $select (only the columns the report shows) and
// the endpoint's largest $top, following @odata.nextLink page by page; each
// row is passed to the caller as it is decoded, so no collection is held in
// memory whole.
package graphdata

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/organization"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

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
	// Sections are the enabled sections, in report order (settings.Sections).
	Sections []string
}

// Organization is the tenant's own record.
type Organization struct {
	ID            string
	DisplayName   string
	DefaultDomain string
}

// User is one row of the Users sheet.
type User struct {
	ID                string
	DisplayName       string
	UserPrincipalName string
	Mail              string
	UserType          string
	AccountEnabled    bool
	CreatedDateTime   time.Time
	ExternalUserState string
	JobTitle          string
	Department        string
}

// IsGuest reports whether the user is a guest (B2B) account.
func (u User) IsGuest() bool { return u.UserType == "Guest" }

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
	Section   string        `json:"section"`
	Status    SectionStatus `json:"status"`
	Reason    string        `json:"reason,omitempty"`
	Rows      int           `json:"rows"`
	Requests  int           `json:"requests"`
	Throttled int           `json:"throttled"`
	Duration  time.Duration `json:"durationNs"`
}

// Result is what was collected of one tenant.
type Result struct {
	Organization Organization
	Users        int
	EnabledUsers int
	Guests       int
	// Requests and Throttled count Graph requests of this tenant as they
	// went over the wire, retries included.
	Requests  int
	Throttled int
	// Roles are the application permissions in the tenant's Graph token.
	Roles []string
	// Sections has one entry per enabled section, in report order.
	Sections []SectionResult
}

// userFields are the properties of the Users sheet; $select keeps Graph
// from sending (and charging resource units for) the rest.
var userFields = []string{
	"id", "displayName", "userPrincipalName", "mail", "userType", "accountEnabled",
	"createdDateTime", "externalUserState", "jobTitle", "department",
}

// maxUsersPage is the largest $top /users accepts.
const maxUsersPage = 999

// Collect reads the enabled sections of tenant t, passing each row to emit
// with its section's name (users: a [User]). A failed token exchange is
// returned as a *tenantauth.Error with its diagnosis, before any Graph
// request. A section the token lacks permissions for is not requested: it
// is reported as not available, naming the permissions. A section Graph
// fails is reported as failed; the other sections carry on.
func (c *Collector) Collect(ctx context.Context, t settings.Tenant, emit func(section string, row any) error) (res Result, err error) {
	defer func() {
		st := c.Transport.Stats(t.ID)
		res.Requests, res.Throttled = st.Requests, st.Throttled
	}()

	cred, err := c.Credentials.For(t.ID)
	if err != nil {
		return res, err
	}
	// Exchange first, on its own, so a failure is diagnosed as the exchange
	// it is rather than surfacing from inside the first Graph request. The
	// token is cached by the credential; EnableCAE matches what the SDK asks
	// for, so the SDK's request hits that cache entry.
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.Scope}, EnableCAE: true})
	if err != nil {
		return res, c.Credentials.Diagnose(t.ID, err)
	}
	if res.Roles, err = tokenRoles(tok.Token); err != nil {
		return res, err
	}
	gs, err := c.client(t.ID, cred)
	if err != nil {
		return res, err
	}

	for _, name := range c.Sections {
		sec, ok := sections[name]
		if !ok {
			return res, fmt.Errorf("graphdata: unknown section %q", name)
		}
		sr := SectionResult{Section: name}
		if missing := sec.Missing(res.Roles); len(missing) > 0 {
			sr.Status, sr.Reason = SectionUnavailable, notGranted(missing)
			res.Sections = append(res.Sections, sr)
			continue
		}
		before, start := c.Transport.Stats(t.ID), time.Now()
		var err error
		switch name {
		case "tenant":
			err = c.collectTenant(ctx, gs, &res)
		case "users":
			sr.Rows, err = c.collectUsers(ctx, gs, &res, func(u User) error { return emit(name, u) })
		}
		after := c.Transport.Stats(t.ID)
		sr.Requests, sr.Throttled, sr.Duration = after.Requests-before.Requests, after.Throttled-before.Throttled, time.Since(start)
		switch {
		case err == nil:
			sr.Status = SectionOK
		case ctx.Err() != nil:
			return res, err
		case errors.Is(err, errNotPremium):
			sr.Status, sr.Reason = SectionUnavailable, "needs Entra ID P1 or P2"
		default:
			var ge *GraphError
			if !errors.As(err, &ge) {
				// Not Graph's answer (a spool write failed, say): the
				// tenant's data cannot be trusted.
				return res, err
			}
			sr.Status, sr.Reason = SectionFailed, ge.Explain(sec)
		}
		res.Sections = append(res.Sections, sr)
	}
	return res, nil
}

func notGranted(missing []string) string {
	if len(missing) == 1 {
		return "permission " + missing[0] + " not granted"
	}
	return "permissions " + strings.Join(missing, ", ") + " not granted"
}

func (c *Collector) collectTenant(ctx context.Context, gs *msgraphsdk.GraphServiceClient, res *Result) error {
	org, err := gs.Organization().Get(ctx, &organization.OrganizationRequestBuilderGetRequestConfiguration{
		QueryParameters: &organization.OrganizationRequestBuilderGetQueryParameters{
			Select: []string{"id", "displayName", "verifiedDomains"},
		},
	})
	if err != nil {
		return graphError("organization", err)
	}
	if v := org.GetValue(); len(v) > 0 {
		res.Organization = organizationOf(v[0])
	}
	return nil
}

func (c *Collector) collectUsers(ctx context.Context, gs *msgraphsdk.GraphServiceClient, res *Result, emit func(User) error) (int, error) {
	rows := 0
	top := int32(maxUsersPage)
	page, err := gs.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: userFields, Top: &top},
	})
	for {
		if err != nil {
			return rows, graphError("users", err)
		}
		for _, gu := range page.GetValue() {
			u := userOf(gu)
			rows++
			res.Users++
			if u.AccountEnabled {
				res.EnabledUsers++
			}
			if u.IsGuest() {
				res.Guests++
			}
			if err := emit(u); err != nil {
				return rows, err
			}
		}
		next := page.GetOdataNextLink()
		if next == nil || *next == "" {
			return rows, nil
		}
		page, err = gs.Users().WithUrl(*next).Get(ctx, nil)
	}
}

// client returns a Graph client of one tenant whose requests go through the
// SDK's middleware and then c.Transport.
func (c *Collector) client(tenantID string, cred azcore.TokenCredential) (*msgraphsdk.GraphServiceClient, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("graphdata: endpoint %q: %w", c.Endpoint, err)
	}
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{c.Scope}, []string{u.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graphdata: %w", err)
	}
	opts := msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: msgraphsdk.GetDefaultClientOptions().GraphServiceLibraryVersion}
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(c.Transport.ForTenant(tenantID), msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...)}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		return nil, fmt.Errorf("graphdata: %w", err)
	}
	adapter.SetBaseUrl(c.Endpoint + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter), nil
}

func organizationOf(o models.Organizationable) Organization {
	org := Organization{ID: deref(o.GetId()), DisplayName: deref(o.GetDisplayName())}
	for _, d := range o.GetVerifiedDomains() {
		if d.GetIsDefault() != nil && *d.GetIsDefault() {
			org.DefaultDomain = deref(d.GetName())
		}
	}
	return org
}

func userOf(gu models.Userable) User {
	u := User{
		ID:                deref(gu.GetId()),
		DisplayName:       deref(gu.GetDisplayName()),
		UserPrincipalName: deref(gu.GetUserPrincipalName()),
		Mail:              deref(gu.GetMail()),
		UserType:          deref(gu.GetUserType()),
		ExternalUserState: deref(gu.GetExternalUserState()),
		JobTitle:          deref(gu.GetJobTitle()),
		Department:        deref(gu.GetDepartment()),
	}
	if b := gu.GetAccountEnabled(); b != nil {
		u.AccountEnabled = *b
	}
	if t := gu.GetCreatedDateTime(); t != nil {
		u.CreatedDateTime = t.UTC()
	}
	return u
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
