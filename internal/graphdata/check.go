package graphdata

import (
	"context"
	"slices"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/microsoftgraph/msgraph-sdk-go/organization"

	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// Readiness is whether a tenant can be reported on, step by step.
type Readiness struct {
	// Exchange is the diagnosed token exchange failure, or nil.
	Exchange error
	// Roles are the permissions granted, as the tenant's Graph token says.
	Roles []string
	// Missing are the permissions the enabled sections need but lack, each
	// with the sections it disables.
	Missing []MissingPermission
	// Graph is the failure of a minimal Graph request, or nil.
	Graph error
}

// MissingPermission is a permission not granted and what it disables.
type MissingPermission struct {
	Permission
	Sections []string
}

// Ready reports whether every enabled section of the tenant can be read.
func (r Readiness) Ready() bool { return r.Exchange == nil && r.Graph == nil && len(r.Missing) == 0 }

// Check probes tenant t without reading its data: the exchange, the
// granted permissions against the enabled sections, and one small Graph
// request.
func (c *Collector) Check(ctx context.Context, t settings.Tenant) Readiness {
	var r Readiness
	cred, err := c.Credentials.For(t.ID)
	if err != nil {
		r.Exchange = err
		return r
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.Scope}, EnableCAE: true})
	if err != nil {
		r.Exchange = c.Credentials.Diagnose(t.ID, err)
		return r
	}
	if r.Roles, err = tokenRoles(tok.Token); err != nil {
		r.Exchange = err
		return r
	}
	slices.Sort(r.Roles)
	for _, name := range c.Sections {
		sec, _ := section.Lookup(name)
		for _, p := range Missing(sec, r.Roles) {
			i := slices.IndexFunc(r.Missing, func(m MissingPermission) bool { return m.Name == p })
			if i < 0 {
				r.Missing = append(r.Missing, MissingPermission{Permission: permissions[p]})
				i = len(r.Missing) - 1
			}
			r.Missing[i].Sections = append(r.Missing[i].Sections, name)
		}
	}
	gs, err := c.client(cred)
	if err != nil {
		r.Graph = err
		return r
	}
	// GET /organization?$select=id is the cheapest request that proves
	// Graph accepts the token; it needs Organization.Read.All, or any
	// permission that lets the app read its own tenant.
	if _, err := gs.Organization().Get(ctx, &organization.OrganizationRequestBuilderGetRequestConfiguration{
		QueryParameters: &organization.OrganizationRequestBuilderGetQueryParameters{Select: []string{"id"}},
	}); err != nil {
		r.Graph = graphError("organization", err)
	}
	return r
}
