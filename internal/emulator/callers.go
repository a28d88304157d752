package emulator

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"net/url"
	"strings"
)

// API is tenantreport's own API: an app registration in the home tenant that exposes app roles to applications.
// Entra knows it as a resource only in the home tenant.
type API struct {
	// ClientID is the app's client (application) id: the aud of its v2.0 tokens.
	ClientID string `json:"clientId"`
	// IdentifierURI is the app ID URI, e.g. "api://tenantreport"; "" means "api://" + ClientID. A client asks for
	// <IdentifierURI>/.default, <ClientID>/.default or api://<ClientID>/.default.
	IdentifierURI string `json:"identifierUri,omitempty"`
	// AppRoles are the values of the app roles it defines for applications, e.g. "Reports.Read.All".
	AppRoles []string `json:"appRoles"`
	// AssignmentRequired is its service principal's appRoleAssignmentRequired: Entra then refuses a token to a
	// client whose service principal holds none of its roles (AADSTS501051).
	AssignmentRequired bool `json:"assignmentRequired,omitempty"`
	// AccessTokenVersion is the app's api.requestedAccessTokenVersion: 1 (or 0) for v1.0 access tokens, 2 for v2.0.
	AccessTokenVersion int `json:"accessTokenVersion,omitempty"`
}

// identifierURI returns the app ID URI.
func (a *API) identifierURI() string {
	return cmp.Or(a.IdentifierURI, "api://"+strings.ToLower(a.ClientID))
}

// Caller is a workload in another tenant that calls the [API], the mirror of the home tenant's managed identity and
// bridge app: a user-assigned managed identity in its own tenant, and a multi-tenant client app whose federated
// identity credentials trust that identity (issuer https://login.microsoftonline.com/{TenantID}/v2.0, subject its
// object id, audience api://AzureADTokenExchange). The app has a service principal where it is registered and in
// the home tenant, and nowhere else.
type Caller struct {
	// Name names the caller in error messages, like an app's display name.
	Name string `json:"name"`
	// TenantID is the caller's own tenant, which issues its managed identity's tokens: the home tenant or one of
	// the world's tenants.
	TenantID string `json:"tenantId"`
	// ManagedIdentity is served by the managed-identity endpoint to requests that name it, like the home one.
	ManagedIdentity ManagedIdentity `json:"managedIdentity"`
	// App is the client app; its TenantID "" means the caller's tenant.
	App App `json:"app"`
	// ServicePrincipalID is the object id of the app's service principal in the home tenant: the oid and sub of
	// its tokens for the API. "" derives a GUID from the world's seed and the app's client id (as for its service
	// principal in its own tenant, the oid of its Graph tokens there).
	ServicePrincipalID string `json:"servicePrincipalId,omitempty"`
	// Roles are the API's app roles assigned to that service principal: the roles claim of its tokens for the API.
	// Each is one of API.AppRoles.
	Roles []string `json:"roles"`
}

// validateCallers checks API and Callers, after the tenants have been checked.
func (w *World) validateCallers() error {
	clientIDs := map[string]bool{strings.ToLower(w.BridgeApp.ClientID): true}
	roles := map[string]bool{}
	if a := w.API; a != nil {
		if err := guid("api.clientId", a.ClientID, true); err != nil {
			return err
		}
		if clientIDs[strings.ToLower(a.ClientID)] {
			return &FieldError{Field: "api.clientId", Value: a.ClientID, Err: ErrDuplicate}
		}
		clientIDs[strings.ToLower(a.ClientID)] = true
		if uri := a.IdentifierURI; uri != "" {
			// The token endpoint trims a trailing slash off the requested resource, so such a URI would never match.
			if u, err := url.Parse(uri); err != nil || u.Scheme == "" || strings.HasSuffix(uri, "/") {
				return &FieldError{Field: "api.identifierUri", Value: uri, Err: ErrNotURI}
			}
		}
		if a.AccessTokenVersion < 0 || a.AccessTokenVersion > 2 {
			return &FieldError{Field: "api.accessTokenVersion", Value: fmt.Sprint(a.AccessTokenVersion), Err: ErrOutOfRange}
		}
		for j, r := range a.AppRoles {
			f := fmt.Sprintf("api.appRoles[%d]", j)
			switch {
			case r == "":
				return &FieldError{Field: f, Err: ErrMissing}
			case roles[r]:
				return &FieldError{Field: f, Value: r, Err: ErrDuplicate}
			}
			roles[r] = true
		}
	}
	tenants := map[string]bool{strings.ToLower(w.HomeTenantID): true}
	for _, t := range w.Tenants {
		tenants[strings.ToLower(t.ID)] = true
	}
	// The managed-identity endpoint finds an identity by client id or object id, so both are unique.
	miIDs := map[string]bool{
		strings.ToLower(w.ManagedIdentity.ClientID): true,
		strings.ToLower(w.ManagedIdentity.ObjectID): true,
	}
	if sa := w.SystemAssignedIdentity; sa != nil {
		miIDs[strings.ToLower(sa.ClientID)], miIDs[strings.ToLower(sa.ObjectID)] = true, true
	}
	names := map[string]bool{}
	for i, c := range w.Callers {
		p := fmt.Sprintf("callers[%d]", i)
		if strings.TrimSpace(c.Name) == "" {
			return &FieldError{Field: p + ".name", Err: ErrMissing}
		}
		if names[strings.ToLower(c.Name)] {
			return &FieldError{Field: p + ".name", Value: c.Name, Err: ErrDuplicate}
		}
		names[strings.ToLower(c.Name)] = true
		for _, f := range []struct {
			field, v string
			required bool
			unique   map[string]bool // nil: need not be unique
			tenant   bool            // must be the home tenant or a world tenant
		}{
			{".tenantId", c.TenantID, true, nil, true},
			{".managedIdentity.clientId", c.ManagedIdentity.ClientID, true, miIDs, false},
			{".managedIdentity.objectId", c.ManagedIdentity.ObjectID, true, miIDs, false},
			{".app.clientId", c.App.ClientID, true, clientIDs, false},
			{".app.tenantId", c.App.TenantID, false, nil, true},
			{".servicePrincipalId", c.ServicePrincipalID, false, nil, false},
		} {
			v := strings.ToLower(f.v)
			switch err := guid(p+f.field, f.v, f.required); {
			case err != nil:
				return err
			case f.unique[v]:
				return &FieldError{Field: p + f.field, Value: f.v, Err: ErrDuplicate}
			case f.tenant && v != "" && !tenants[v]:
				return &FieldError{Field: p + f.field, Value: f.v, Err: ErrUnknownTenant}
			}
			if f.unique != nil {
				f.unique[v] = true
			}
		}
		if err := validateFICs(p+".app.federatedCredentials", c.App.FederatedCredentials); err != nil {
			return err
		}
		seen := map[string]bool{}
		for j, r := range c.Roles {
			f := fmt.Sprintf("%s.roles[%d]", p, j)
			switch {
			case !roles[r]:
				return &FieldError{Field: f, Value: r, Err: ErrUnknownRole}
			case seen[r]:
				return &FieldError{Field: f, Value: r, Err: ErrDuplicate}
			}
			seen[r] = true
		}
	}
	return nil
}

// apiIdentifier returns the identifier by which a token request names the world's API, res being the scope
// without /.default: the app ID URI, the client id or api://{client id}, as the API declares it. It returns "" when
// res names no API in the tenant: Entra knows the API only in the home tenant, where it is registered.
func (w *World) apiIdentifier(res, tenantID string) string {
	a := w.API
	if a == nil || !strings.EqualFold(tenantID, w.HomeTenantID) {
		return ""
	}
	for _, id := range []string{a.identifierURI(), strings.ToLower(a.ClientID), "api://" + strings.ToLower(a.ClientID)} {
		if strings.EqualFold(res, id) {
			return id
		}
	}
	return ""
}

// client is an app that asks the token endpoint for tokens: the bridge app or a caller's client app.
type client struct {
	app      *App
	tenantID string  // where the app is registered
	caller   *Caller // nil for the bridge app
}

// clientApp returns the app with clientID, or nil. The bridge app wins over a caller's app with the same id.
func (s *Server) clientApp(clientID string) *client {
	if clientID == "" {
		return nil
	}
	w := &s.world
	if strings.EqualFold(clientID, w.BridgeApp.ClientID) {
		return &client{app: &w.BridgeApp, tenantID: cmp.Or(w.BridgeApp.TenantID, w.HomeTenantID)}
	}
	for i := range w.Callers {
		if c := &w.Callers[i]; strings.EqualFold(clientID, c.App.ClientID) {
			return &client{app: &c.App, tenantID: cmp.Or(c.App.TenantID, c.TenantID), caller: c}
		}
	}
	return nil
}

// name is the app's display name, as Entra's error messages quote it.
func (c *client) name() string {
	if c.caller == nil {
		return "tenantreport"
	}
	return c.caller.Name
}

// provisioned reports whether the app has a service principal in t. The bridge app has one where it is registered
// and wherever admin consent was given; a caller's app only where it is registered and in the home tenant.
func (c *client) provisioned(w *World, t *tenant) bool {
	switch {
	case strings.EqualFold(t.ID, c.tenantID):
		return true
	case c.caller == nil:
		return t.provisioned()
	default:
		return strings.EqualFold(t.ID, w.HomeTenantID)
	}
}

// servicePrincipal returns the object id of the app's service principal in t: the oid and sub of its tokens there.
func (c *client) servicePrincipal(w *World, t *tenant) string {
	switch {
	case c.caller == nil:
		return t.spID
	case c.caller.ServicePrincipalID != "" && strings.EqualFold(t.ID, w.HomeTenantID):
		return strings.ToLower(c.caller.ServicePrincipalID)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "tenantreport/emulator caller service principal\x00%d\x00%s\x00%s", w.Seed,
		strings.ToLower(c.app.ClientID), t.ID))
	return formatGUID([16]byte(sum[:16]))
}

// graphRoles returns the Graph application permissions granted to the app in t. A caller's app has none.
func (c *client) graphRoles(t *tenant) []string {
	if c.caller == nil {
		return t.roles()
	}
	return nil
}

// apiRoles returns the API's app roles assigned to the app's service principal in the home tenant. The bridge app
// holds none.
func (c *client) apiRoles() []string {
	if c.caller == nil {
		return nil
	}
	return c.caller.Roles
}
