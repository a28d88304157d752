package emulator

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	tokenExchangeAudience = "api://AzureADTokenExchange"
	graphResource         = "https://graph.microsoft.com"
	graphAppID            = "00000003-0000-0000-c000-000000000000"
	jwtBearer             = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	miAPIVersion          = "2019-08-01"
	miTokenLifetime       = time.Hour
	accessTokenLifetime   = 3599 * time.Second
	// clockSkew is the leeway for nbf; Entra allows a few minutes.
	clockSkew = 5 * time.Minute
)

// entraIssuer is the v2.0 issuer of tokens a tenant issues, such as a managed identity's; FICs name it.
func entraIssuer(tenantID string) string {
	return "https://login.microsoftonline.com/" + tenantID + "/v2.0"
}

// v1Issuer is the issuer of v1.0 access tokens, such as Graph's.
func v1Issuer(tenantID string) string { return "https://sts.windows.net/" + tenantID + "/" }

// ---- managed identity (App Service, api-version 2019-08-01) ----

// miError is the App Service managed-identity error body.
type miError struct {
	StatusCode    int    `json:"statusCode"`
	Message       string `json:"message"`
	CorrelationID string `json:"correlationId"`
}

func (s *Server) serveMI(w http.ResponseWriter, r *http.Request) {
	st := s.state()
	q := r.URL.Query()
	fail := func(status int, msg string) {
		s.count(func(m *Metrics) { m.TokenErrors[fmt.Sprintf("msi %d -", status)]++ })
		writeJSON(w, status, miError{StatusCode: status, Message: msg, CorrelationID: newGUID()})
	}
	// App Service serves the system-assigned identity when the request names none (client_id, principal_id, its
	// alias object_id, mi_res_id), and only a user-assigned one when it does.
	// https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference
	clientID, principalID := q.Get("client_id"), cmp.Or(q.Get("principal_id"), q.Get("object_id"))
	resourceID := cmp.Or(q.Get("mi_res_id"), q.Get("msi_res_id"))
	named := clientID != "" || principalID != "" || resourceID != ""
	var id *identity
	switch {
	case !named && s.world.SystemAssignedIdentity != nil:
		id = &identity{mi: s.world.SystemAssignedIdentity, tenantID: s.world.HomeTenantID,
			resource: "Microsoft.Web/sites/tenantreport"}
	case named && resourceID == "":
		id = s.userAssigned(clientID, principalID)
	}
	switch {
	case r.Method != http.MethodGet:
		fail(http.StatusMethodNotAllowed, "The requested resource does not support http method '"+r.Method+"'.")
	case r.Header.Get("X-IDENTITY-HEADER") != st.identityHeader:
		fail(http.StatusUnauthorized, "Unauthorized request: X-IDENTITY-HEADER is missing or does not match IDENTITY_HEADER.")
	case q.Get("api-version") != miAPIVersion:
		fail(http.StatusBadRequest, fmt.Sprintf("Unsupported api-version %q; this endpoint serves %s.", q.Get("api-version"), miAPIVersion))
	case q.Get("resource") == "":
		fail(http.StatusBadRequest, "Required query parameter 'resource' is missing.")
	case id == nil && !named:
		// The token service's answer when the app has no system-assigned identity to fall back to.
		fail(http.StatusBadRequest, "Unable to load the proper Managed Identity.")
	case id == nil:
		fail(http.StatusBadRequest, "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.")
	default:
		now := s.now()
		resource := strings.TrimSuffix(q.Get("resource"), "/.default")
		exp := now.Add(miTokenLifetime)
		mi := id.mi
		// Managed-identity tokens name the identity's Azure resource; Entra tells them from app tokens by it.
		mirid := "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/tenantreport/providers/" + id.resource
		tok, err := st.keys.Load().sign(jwt.MapClaims{
			"aud":       resource,
			"iss":       entraIssuer(id.tenantID),
			"iat":       now.Add(-clockSkew).Unix(),
			"nbf":       now.Add(-clockSkew).Unix(),
			"exp":       exp.Unix(),
			"azp":       mi.ClientID,
			"azpacr":    "2",
			"appid":     mi.ClientID,
			"idtyp":     "app",
			"oid":       mi.ObjectID,
			"sub":       mi.ObjectID,
			"tid":       id.tenantID,
			"uti":       rand22(),
			"ver":       "2.0",
			"xms_mirid": mirid,
		})
		if err != nil {
			fail(http.StatusInternalServerError, err.Error())
			return
		}
		s.count(func(m *Metrics) { m.MITokensIssued++ })
		writeJSON(w, http.StatusOK, struct {
			AccessToken string `json:"access_token"`
			ExpiresOn   string `json:"expires_on"`
			Resource    string `json:"resource"`
			TokenType   string `json:"token_type"`
			ClientID    string `json:"client_id"`
		}{tok, strconv.FormatInt(exp.Unix(), 10), resource, "Bearer", mi.ClientID})
	}
}

// identity is a managed identity the managed-identity endpoint serves.
type identity struct {
	mi       *ManagedIdentity
	tenantID string // issues its tokens
	resource string // its Azure resource, under the resource group: the end of xms_mirid
}

// userAssigned returns the user-assigned identity whose client id and principal (object) id match those a request
// names ("" matches any): the Function App's or a caller's. It returns nil when none matches both.
func (s *Server) userAssigned(clientID, principalID string) *identity {
	match := func(mi *ManagedIdentity) bool {
		return mi.ClientID != "" && (clientID == "" || strings.EqualFold(clientID, mi.ClientID)) &&
			(principalID == "" || strings.EqualFold(principalID, mi.ObjectID))
	}
	const uai = "Microsoft.ManagedIdentity/userAssignedIdentities/"
	if mi := &s.world.ManagedIdentity; match(mi) {
		return &identity{mi: mi, tenantID: s.world.HomeTenantID, resource: uai + "tenantreport-" + shortID(mi.ClientID)}
	}
	for i := range s.world.Callers {
		if c := &s.world.Callers[i]; match(&c.ManagedIdentity) {
			return &identity{mi: &c.ManagedIdentity, tenantID: c.TenantID,
				resource: uai + "caller-" + shortID(c.ManagedIdentity.ClientID)}
		}
	}
	return nil
}

// shortID returns the first block of a GUID, lower-case, to name a resource after it.
func shortID(id string) string { return strings.ToLower(id[:min(len(id), 8)]) }

// ---- Entra ID: discovery and keys ----

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, tenantPath string) {
	t := s.lookup(tenantPath)
	if t == nil {
		s.writeAADError(w, r, tenantPath, errUnknownTenant(tenantPath))
		return
	}
	base := baseURL(r)
	authority := base + "/" + t.ID
	writeJSON(w, http.StatusOK, struct {
		TokenEndpoint                string   `json:"token_endpoint"`
		TokenEndpointAuthMethods     []string `json:"token_endpoint_auth_methods_supported"`
		JWKSURI                      string   `json:"jwks_uri"`
		ResponseModes                []string `json:"response_modes_supported"`
		SubjectTypes                 []string `json:"subject_types_supported"`
		IDTokenSigningAlgs           []string `json:"id_token_signing_alg_values_supported"`
		ResponseTypes                []string `json:"response_types_supported"`
		Scopes                       []string `json:"scopes_supported"`
		Issuer                       string   `json:"issuer"`
		RequestURIParameterSupported bool     `json:"request_uri_parameter_supported"`
		AuthorizationEndpoint        string   `json:"authorization_endpoint"`
		DeviceAuthorizationEndpoint  string   `json:"device_authorization_endpoint"`
		EndSessionEndpoint           string   `json:"end_session_endpoint"`
		TenantRegionScope            string   `json:"tenant_region_scope"`
		CloudInstanceName            string   `json:"cloud_instance_name"`
		CloudGraphHostName           string   `json:"cloud_graph_host_name"`
		MSGraphHost                  string   `json:"msgraph_host"`
		ClaimsSupported              []string `json:"claims_supported"`
		TokenEndpointAuthSigningAlgs []string `json:"token_endpoint_auth_signing_alg_values_supported"`
		FrontchannelLogoutSupported  bool     `json:"frontchannel_logout_supported"`
		HTTPLogoutSupported          bool     `json:"http_logout_supported"`
		RequestParameterSupported    bool     `json:"request_parameter_supported"`
		ClaimsParameterSupported     bool     `json:"claims_parameter_supported"`
	}{
		TokenEndpoint:                authority + "/oauth2/v2.0/token",
		TokenEndpointAuthMethods:     []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		JWKSURI:                      authority + "/discovery/v2.0/keys",
		ResponseModes:                []string{"query", "fragment", "form_post"},
		SubjectTypes:                 []string{"pairwise"},
		IDTokenSigningAlgs:           []string{"RS256"},
		ResponseTypes:                []string{"code", "id_token", "code id_token", "id_token token"},
		Scopes:                       []string{"openid", "profile", "email", "offline_access"},
		Issuer:                       entraIssuer(t.ID), // as Entra says it, and as the tokens say it: not on the emulator's host
		AuthorizationEndpoint:        authority + "/oauth2/v2.0/authorize",
		DeviceAuthorizationEndpoint:  authority + "/oauth2/v2.0/devicecode",
		EndSessionEndpoint:           authority + "/oauth2/v2.0/logout",
		TenantRegionScope:            "EU",
		CloudInstanceName:            "microsoftonline.com",
		CloudGraphHostName:           "graph.windows.net",
		MSGraphHost:                  r.Host,
		ClaimsSupported:              []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "roles", "appid", "idtyp"},
		TokenEndpointAuthSigningAlgs: []string{"RS256", "ES256"},
		FrontchannelLogoutSupported:  true,
		HTTPLogoutSupported:          true,
		ClaimsParameterSupported:     true,
	})
}

func (s *Server) serveKeys(w http.ResponseWriter, r *http.Request, tenantPath string) {
	if s.lookup(tenantPath) == nil {
		s.writeAADError(w, r, tenantPath, errUnknownTenant(tenantPath))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": s.state().keys.Load().jwks()})
}

// ---- Entra ID: token endpoint ----

// aadError is a token-endpoint failure, rendered in the v2.0 error shape.
type aadError struct {
	status int    // 400, or 401 for invalid_client
	err    string // OAuth error code
	code   int    // AADSTS code
	desc   string // the message after "AADSTSnnn: ", before the trace suffix
}

func errUnknownTenant(tenant string) *aadError {
	return &aadError{http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure "+
		"you have the correct tenant ID and are signing into the correct cloud. Check with your subscription "+
		"administrator, this may happen if there are no active subscriptions for the tenant.", tenant)}
}

func errAppNotFound(clientID string, t *tenant) *aadError {
	return &aadError{http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' "+
		"was not found in the directory '%s'. This can happen if the application has not been installed by the "+
		"administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication "+
		"request to the wrong tenant.", clientID, t.DisplayName)}
}

func errMissingParam(name string) *aadError {
	return &aadError{http.StatusBadRequest, "invalid_request", 900144,
		fmt.Sprintf("The request body must contain the following parameter: '%s'.", name)}
}

func errNoFIC(code int, what, value string) *aadError {
	return &aadError{http.StatusUnauthorized, "invalid_client", code, fmt.Sprintf("No matching federated identity record "+
		"found for presented assertion %s '%s'. Check your federated identity credential Subject, Audience and "+
		"Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
		what, value)}
}

// errSubjectCase is Entra's answer when a credential's subject equals the assertion's only if case is ignored: it
// has compared subjects case-sensitively since 2024, and names this case apart (AADSTS7002138, e.g.
// https://github.com/Azure/login/issues/515). Any other subject mismatch is still AADSTS700213.
func errSubjectCase(sub string) *aadError {
	return &aadError{http.StatusUnauthorized, "invalid_client", 7002138, fmt.Sprintf("No matching federated identity "+
		"record found for presented assertion subject '%s'. The subject matches with case-insensitive comparison, but "+
		"not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer "+
		"against the presented assertion. See documentation at: "+
		"https://learn.microsoft.com/entra/workload-id/workload-identity-federation. See breaking change notification "+
		"and remediation at: https://learn.microsoft.com/en-us/entra/identity-platform/reference-breaking-changes#august-2024.",
		sub)}
}

// tokenRequest is what the token rules inspect; rules fill in what they establish for later rules.
type tokenRequest struct {
	now        time.Time
	pathTenant string
	tenant     *tenant // nil when the path names no known tenant
	form       url.Values
	client     *client       // set by the client rule
	assertion  jwt.MapClaims // set by the assertion rule
	fics       []FIC         // candidates, narrowed by the FIC rules
	resource   string        // set by the scope rule: Graph's, or the identifier the request names the API by
	api        *API          // set by the scope rule when the resource is the world's API
}

// tokenRule is one check of the token endpoint; nil means the request passes it.
type tokenRule struct {
	name  string
	check func(s *Server, q *tokenRequest) *aadError
}

// tokenRules run in order and the first failure is the reply. Entra does not document its order; this one reports
// the most fundamental problem first: tenant, client, assertion, federation trust, consent, the service principal,
// Conditional Access, resource, app role assignment. The client is the bridge app or a caller's app: the rules
// after the client rule ask it for its registration tenant, credentials, service principals and roles. To emulate
// a new failure, add a world field and a rule here.
var tokenRules = []tokenRule{
	{"tenant", func(s *Server, q *tokenRequest) *aadError {
		if q.tenant == nil {
			return errUnknownTenant(q.pathTenant)
		}
		return nil
	}},
	{"outage", func(s *Server, q *tokenRequest) *aadError {
		if q.tenant.TokenOutage {
			// As captured in Azure/azure-sdk-for-python#14241.
			return &aadError{http.StatusServiceUnavailable, "temporarily_unavailable", 90033,
				"A transient error has occurred. Please try again."}
		}
		return nil
	}},
	{"grant_type", func(s *Server, q *tokenRequest) *aadError {
		switch g := q.form.Get("grant_type"); g {
		case "client_credentials":
			return nil
		case "":
			return errMissingParam("grant_type")
		default:
			return &aadError{http.StatusBadRequest, "unsupported_grant_type", 70003,
				fmt.Sprintf("The app requested an unsupported grant type '%s'.", g)}
		}
	}},
	{"client", func(s *Server, q *tokenRequest) *aadError {
		id := q.form.Get("client_id")
		if id == "" {
			return errMissingParam("client_id")
		}
		if q.client = s.clientApp(id); q.client == nil {
			return errAppNotFound(id, q.tenant)
		}
		return nil
	}},
	{"assertion", func(s *Server, q *tokenRequest) *aadError {
		a := q.form.Get("client_assertion")
		if a == "" || q.form.Get("client_assertion_type") != jwtBearer {
			return &aadError{http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the " +
				"following parameter: 'client_assertion' or 'client_secret'."}
		}
		claims, err := s.state().keys.Load().verify(a)
		switch err {
		case nil:
			q.assertion = claims
			return nil
		case errMalformed:
			return &aadError{http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed."}
		default:
			return &aadError{http.StatusUnauthorized, "invalid_client", 50013, fmt.Sprintf("Assertion failed signature "+
				"validation. [Reason - The key was not found., Issuer: '%s'.] (emulator: the assertion was not signed by "+
				"this emulator's key. MSAL caches managed-identity tokens process-wide, so a token from an emulator "+
				"with a different seed, home tenant or managed identity ends up here.)", claimString(claims, "iss"))}
		}
	}},
	{"assertion lifetime", func(s *Server, q *tokenRequest) *aadError {
		nbf, hasNBF := claimTime(q.assertion, "nbf")
		exp, hasExp := claimTime(q.assertion, "exp")
		if hasExp && q.now.Before(exp) && (!hasNBF || !q.now.Add(clockSkew).Before(nbf)) {
			return nil
		}
		const f = "2006-01-02T15:04:05.0000000Z"
		return &aadError{http.StatusUnauthorized, "invalid_client", 700024, fmt.Sprintf("Client assertion is not within "+
			"its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the "+
			"documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
			q.now.UTC().Format(f), nbf.UTC().Format(f), exp.UTC().Format(f))}
	}},
	{"app-only Entra token", func(s *Server, q *tokenRequest) *aadError {
		if entraTenantOf(claimString(q.assertion, "iss")) != "" && claimString(q.assertion, "idtyp") != "app" {
			return &aadError{http.StatusUnauthorized, "invalid_client", 700229, "Forbidden token type. Only app-only " +
				"tokens may be used as Federated Identity Credentials for AAD issuer."}
		}
		return nil
	}},
	{"managed-identity token", func(s *Server, q *tokenRequest) *aadError {
		if entraTenantOf(claimString(q.assertion, "iss")) != "" && claimString(q.assertion, "xms_mirid") == "" {
			return &aadError{http.StatusUnauthorized, "invalid_client", 700226, "Only MSI tokens may be used as " +
				"Federated Identity Credentials for AAD issuer."}
		}
		return nil
	}},
	{"issuer tenant", func(s *Server, q *tokenRequest) *aadError {
		iss := claimString(q.assertion, "iss")
		if tid := entraTenantOf(iss); tid != "" && !strings.EqualFold(tid, q.client.tenantID) {
			return &aadError{http.StatusUnauthorized, "invalid_client", 700236, fmt.Sprintf("Entra ID tokens issued by "+
				"issuer '%s' may not be used for federated identity credential flows for applications or managed "+
				"identities registered in this tenant.", iss)}
		}
		return nil
	}},
	{"any fic", func(s *Server, q *tokenRequest) *aadError {
		if len(q.client.app.FederatedCredentials) > 0 {
			return nil
		}
		// Entra answered this 400 invalid_request in 2022 (https://github.com/Azure/azure-workload-identity/issues/616)
		// and 401 invalid_client since 2023 (https://github.com/external-secrets/external-secrets/issues/2783,
		// https://github.com/Azure/azure-service-operator/issues/3381).
		return &aadError{http.StatusUnauthorized, "invalid_client", 70021, fmt.Sprintf("No matching federated identity "+
			"record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion "+
			"Audience: '%s'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
			claimString(q.assertion, "iss"), claimString(q.assertion, "sub"), strings.Join(claimStrings(q.assertion, "aud"), ","))}
	}},
	{"fic issuer", func(s *Server, q *tokenRequest) *aadError {
		iss := claimString(q.assertion, "iss")
		q.fics = slices.DeleteFunc(slices.Clone(q.client.app.FederatedCredentials), func(f FIC) bool { return f.Issuer != iss })
		if len(q.fics) == 0 {
			return errNoFIC(700211, "issuer", iss)
		}
		return nil
	}},
	{"fic subject", func(s *Server, q *tokenRequest) *aadError {
		sub := claimString(q.assertion, "sub")
		foldMatch := slices.ContainsFunc(q.fics, func(f FIC) bool { return strings.EqualFold(f.Subject, sub) })
		q.fics = slices.DeleteFunc(q.fics, func(f FIC) bool { return f.Subject != sub })
		switch {
		case len(q.fics) > 0:
			return nil
		case foldMatch:
			return errSubjectCase(sub)
		default:
			return errNoFIC(700213, "subject", sub)
		}
	}},
	{"fic audience", func(s *Server, q *tokenRequest) *aadError {
		auds := claimStrings(q.assertion, "aud")
		q.fics = slices.DeleteFunc(q.fics, func(f FIC) bool {
			return !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(f.Audiences, a) })
		})
		if len(q.fics) == 0 {
			return errNoFIC(700212, "audience", strings.Join(auds, ","))
		}
		return nil
	}},
	{"provisioned", func(s *Server, q *tokenRequest) *aadError {
		if !q.client.provisioned(&s.world, q.tenant) {
			return errAppNotFound(q.form.Get("client_id"), q.tenant)
		}
		return nil
	}},
	{"service principal enabled", func(s *Server, q *tokenRequest) *aadError {
		if q.client.caller == nil && q.tenant.ServicePrincipalDisabled {
			return &aadError{http.StatusBadRequest, "unauthorized_client", 7000112, fmt.Sprintf("Application '%s'"+
				"(tenantreport) is disabled.", strings.ToLower(q.form.Get("client_id")))}
		}
		return nil
	}},
	{"conditional access", func(s *Server, q *tokenRequest) *aadError {
		if q.client.caller == nil && q.tenant.BlockedByConditionalAccess {
			return &aadError{http.StatusBadRequest, "invalid_grant", 53003, "Access has been blocked by Conditional " +
				"Access policies. The access policy does not allow token issuance."}
		}
		return nil
	}},
	{"scope", func(s *Server, q *tokenRequest) *aadError {
		var scopes []string
		for _, sc := range strings.Fields(q.form.Get("scope")) {
			if sc != "openid" && sc != "profile" && sc != "offline_access" {
				scopes = append(scopes, sc)
			}
		}
		if len(scopes) == 0 {
			return errMissingParam("scope")
		}
		sc := scopes[0]
		res, ok := strings.CutSuffix(sc, "/.default")
		if len(scopes) > 1 || !ok {
			return &aadError{http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope "+
				"%s is not valid. Client credential flows must have a scope value with /.default suffixed to the "+
				"resource identifier (application ID URI).", strings.Join(scopes, " "))}
		}
		switch res = strings.TrimSuffix(res, "/"); {
		case res == graphResource || res == graphAppID:
			q.resource = graphResource
		case s.world.apiIdentifier(res, q.tenant.ID) != "":
			q.resource, q.api = s.world.apiIdentifier(res, q.tenant.ID), s.world.API
		default:
			return &aadError{http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal "+
				"named %s was not found in the tenant named %s. This can happen if the application has not been "+
				"installed by the administrator of the tenant or consented to by any user in the tenant. You might have "+
				"sent your authentication request to the wrong tenant.", res, q.tenant.DisplayName)}
		}
		return nil
	}},
	{"app role assignment", func(s *Server, q *tokenRequest) *aadError {
		if q.api == nil || !q.api.AssignmentRequired || len(q.client.apiRoles()) > 0 {
			return nil
		}
		// The wording and the 400 invalid_grant as reported for client credentials, e.g.
		// https://doc.nais.io/security/auth/azure-ad/faq-troubleshooting/ (the display names in parentheses).
		return &aadError{http.StatusBadRequest, "invalid_grant", 501051, fmt.Sprintf("Application '%s'(%s) is not "+
			"assigned to a role for the application '%s'(tenantreport API).", strings.ToLower(q.client.app.ClientID),
			q.client.name(), q.resource)}
	}},
}

// entraTenantOf returns the tenant of an Entra ID issuer (v1 or v2), or "" for any other issuer.
func entraTenantOf(iss string) string {
	for _, p := range [][2]string{{"https://login.microsoftonline.com/", "/v2.0"}, {"https://sts.windows.net/", "/"}} {
		if rest, ok := strings.CutPrefix(iss, p[0]); ok {
			if tid, ok := strings.CutSuffix(rest, p[1]); ok && guidRE.MatchString(tid) {
				return tid
			}
		}
	}
	return ""
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenantPath string) {
	if r.Method != http.MethodPost {
		s.writeAADError(w, r, tenantPath, &aadError{http.StatusBadRequest, "invalid_request", 900561,
			fmt.Sprintf("The endpoint only accepts POST requests. Received a %s request.", r.Method)})
		return
	}
	if err := r.ParseForm(); err != nil {
		s.writeAADError(w, r, tenantPath, &aadError{http.StatusBadRequest, "invalid_request", 900144, err.Error()})
		return
	}
	q := &tokenRequest{now: s.now(), pathTenant: tenantPath, tenant: s.lookup(tenantPath), form: r.PostForm}
	for _, rule := range tokenRules {
		if e := rule.check(s, q); e != nil {
			s.writeAADError(w, r, tenantPath, e)
			return
		}
	}
	claims := s.accessClaims(q)
	if cc := clientCapabilities(r.PostForm.Get("claims")); len(cc) > 0 {
		claims["xms_cc"] = cc // CAE: azidentity asks for "cp1" through the claims parameter
	}
	tok, err := s.state().keys.Load().sign(claims)
	if err != nil {
		s.writeAADError(w, r, tenantPath, &aadError{http.StatusInternalServerError, "server_error", 0, err.Error()})
		return
	}
	if q.api != nil {
		s.count(func(m *Metrics) { m.APITokensIssued++ })
	} else {
		s.count(func(m *Metrics) { m.TokensIssued++ })
	}
	exp := int(accessTokenLifetime / time.Second)
	writeJSON(w, http.StatusOK, struct {
		TokenType    string `json:"token_type"`
		ExpiresIn    int    `json:"expires_in"`
		ExtExpiresIn int    `json:"ext_expires_in"`
		AccessToken  string `json:"access_token"`
	}{"Bearer", exp, exp, tok})
}

// accessClaims returns the claims of the app-only access token a request that passed every rule gets: a v1.0 token
// for Graph, and one of the version the API requests for the API. The token names the client app (appid or azp),
// its service principal in the tenant (oid, sub) and the roles it holds there: Graph permissions granted, or the
// API's app roles assigned.
func (s *Server) accessClaims(q *tokenRequest) jwt.MapClaims {
	t, c := q.tenant, q.client
	sp, appID := c.servicePrincipal(&s.world, t), strings.ToLower(c.app.ClientID)
	claims := jwt.MapClaims{
		"iat":   q.now.Add(-clockSkew).Unix(),
		"nbf":   q.now.Add(-clockSkew).Unix(),
		"exp":   q.now.Add(accessTokenLifetime).Unix(),
		"aio":   rand22(),
		"idtyp": "app",
		"oid":   sp,
		"rh":    "0.emulator." + rand22(),
		"sub":   sp,
		"tid":   t.ID,
		"uti":   rand22(),
	}
	roles := c.graphRoles(t)
	if q.api != nil {
		roles = c.apiRoles()
	}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	if q.api != nil && q.api.AccessTokenVersion == 2 {
		// A v2.0 token's audience is always the API's client id, whichever identifier the client asked for.
		claims["aud"] = strings.ToLower(q.api.ClientID)
		claims["iss"] = entraIssuer(t.ID)
		claims["azp"] = appID
		claims["azpacr"] = "2" // a certificate or federated credential, not a secret
		claims["ver"] = "2.0"
		return claims
	}
	claims["aud"] = q.resource
	claims["iss"] = v1Issuer(t.ID)
	claims["idp"] = v1Issuer(t.ID)
	claims["appid"] = appID
	claims["appidacr"] = "2"
	claims["ver"] = "1.0"
	return claims
}

// clientCapabilities extracts access_token.xms_cc.values from a claims request; it ignores anything malformed.
func clientCapabilities(claims string) []string {
	var c struct {
		AccessToken struct {
			XMSCC struct {
				Values []string `json:"values"`
			} `json:"xms_cc"`
		} `json:"access_token"`
	}
	if claims == "" || json.Unmarshal([]byte(claims), &c) != nil {
		return nil
	}
	return c.AccessToken.XMSCC.Values
}

// writeAADError writes e in Entra ID's v2.0 error shape and counts it.
func (s *Server) writeAADError(w http.ResponseWriter, r *http.Request, tenantPath string, e *aadError) {
	now := s.now().UTC()
	ts := now.Format("2006-01-02 15:04:05Z")
	trace := newGUID()
	corr := r.Header.Get("client-request-id")
	if !guidRE.MatchString(corr) {
		corr = newGUID()
	}
	s.count(func(m *Metrics) { m.TokenErrors[fmt.Sprintf("AADSTS%d %s", e.code, tenantPath)]++ })
	writeJSON(w, e.status, struct {
		Error         string `json:"error"`
		Description   string `json:"error_description"`
		Codes         []int  `json:"error_codes"`
		Timestamp     string `json:"timestamp"`
		TraceID       string `json:"trace_id"`
		CorrelationID string `json:"correlation_id"`
		ErrorURI      string `json:"error_uri"`
	}{
		Error:         e.err,
		Description:   fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.code, e.desc, trace, corr, ts),
		Codes:         []int{e.code},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: corr,
		ErrorURI:      fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", e.code),
	})
}
