package emulator_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	azruntime "github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantreport/tenantreport/internal/emulator"
)

const (
	apiClientID = "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	apiURI      = "api://tenantreport"
	contosoSP   = "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910" // Contoso caller's service principal in the home tenant
)

// randomGUID returns a GUID no other world in the process has: MSAL caches managed-identity tokens for the whole
// process by client id, so every caller identity gets its own.
func randomGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// newCaller returns a caller in tenantID whose app trusts its own managed identity.
func newCaller(name, tenantID string, roles ...string) emulator.Caller {
	mi := emulator.ManagedIdentity{ClientID: randomGUID(), ObjectID: randomGUID()}
	return emulator.Caller{Name: name, TenantID: tenantID, ManagedIdentity: mi, Roles: roles,
		App: emulator.App{ClientID: randomGUID(), FederatedCredentials: []emulator.FIC{{Name: "caller-mi",
			Issuer: "https://login.microsoftonline.com/" + tenantID + "/v2.0", Subject: mi.ObjectID,
			Audiences: []string{"api://AzureADTokenExchange"}}}}}
}

// callerWorld returns the sample world with the API (access token version v) and two callers: Contoso's, assigned
// Reports.Read.Tenant, with a declared service principal id, and Fabrikam's, assigned nothing.
func callerWorld(v int) *emulator.World {
	w := emulator.SampleWorld()
	w.API = &emulator.API{ClientID: apiClientID, IdentifierURI: apiURI, AccessTokenVersion: v,
		AppRoles: []string{"Reports.Read.All", "Reports.Read.Tenant", "Reports.Run"}}
	contoso := newCaller("Contoso automation", w.Tenants[0].ID, "Reports.Read.Tenant")
	contoso.ServicePrincipalID = contosoSP
	w.Callers = []emulator.Caller{contoso, newCaller("Fabrikam automation", w.Tenants[1].ID)}
	return w
}

// callerCredential returns the credential a caller builds: its app in tenantID, asserted by its managed identity.
func (h *harness) callerCredential(c emulator.Caller, tenantID string) *azidentity.ClientAssertionCredential {
	h.t.Helper()
	return h.appCredential(tenantID, c.App.ClientID, miAssertion(h.miFor(c.ManagedIdentity.ClientID)))
}

// jwks fetches the keys the home tenant publishes, by kid, in order.
func (h *harness) jwks() ([]string, map[string]*rsa.PublicKey) {
	h.t.Helper()
	var doc struct{ Keys []struct{ Kid, N, E string } }
	if status, body := h.get("/"+h.world.HomeTenantID+"/discovery/v2.0/keys", ""); status != 200 || json.Unmarshal(body, &doc) != nil {
		h.t.Fatalf("GET keys: %d %s", status, body)
	}
	var kids []string
	keys := map[string]*rsa.PublicKey{}
	for _, k := range doc.Keys {
		n, errN := base64.RawURLEncoding.DecodeString(k.N)
		e, errE := base64.RawURLEncoding.DecodeString(k.E)
		if err := errors.Join(errN, errE); err != nil {
			h.t.Fatalf("JWKS key %s: %v", k.Kid, err)
		}
		kids = append(kids, k.Kid)
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return kids, keys
}

// get sends a GET to the emulator, with a bearer token unless token is "".
func (h *harness) get(path, token string) (int, []byte) {
	h.t.Helper()
	req, _ := http.NewRequestWithContext(h.t.Context(), http.MethodGet, h.run.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// verified checks token's RS256 signature against the JWKS, as an API's validator does, and returns its header and
// claims.
func (h *harness) verified(token string) (map[string]any, jwt.MapClaims) {
	h.t.Helper()
	_, keys := h.jwks()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if k := keys[fmt.Sprint(t.Header["kid"])]; k != nil {
			return k, nil
		}
		return nil, fmt.Errorf("kid %v is not in the JWKS", t.Header["kid"])
	}, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		h.t.Fatalf("token does not verify against the JWKS: %v", err)
	}
	return parsed.Header, claims
}

func TestCallerManagedIdentityToken(t *testing.T) {
	w := callerWorld(1)
	h := start(t, w)
	c := w.Callers[0]
	tok, err := h.miFor(c.ManagedIdentity.ClientID).GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"api://AzureADTokenExchange/.default"}})
	if err != nil {
		t.Fatalf("ManagedIdentityCredential(%s).GetToken: %v", c.Name, err)
	}
	_, claims := h.verified(tok.Token)
	for k, want := range map[string]string{
		"iss": "https://login.microsoftonline.com/" + c.TenantID + "/v2.0", "tid": c.TenantID,
		"oid": c.ManagedIdentity.ObjectID, "sub": c.ManagedIdentity.ObjectID,
		"appid": c.ManagedIdentity.ClientID, "azp": c.ManagedIdentity.ClientID,
		"aud": "api://AzureADTokenExchange", "idtyp": "app",
	} {
		if claims[k] != want {
			t.Errorf("caller MI token claim %s = %v, want %q", k, claims[k], want)
		}
	}
	if mirid, _ := claims["xms_mirid"].(string); !strings.HasSuffix(mirid, "/userAssignedIdentities/caller-"+c.ManagedIdentity.ClientID[:8]) {
		t.Errorf("xms_mirid = %q, want the caller's user-assigned identity", mirid)
	}
}

// TestCallerGraphToken checks that a caller's app, which holds no Graph permission, gets a Graph token in its own
// tenant that names it and has no roles, so Graph refuses it.
func TestCallerGraphToken(t *testing.T) {
	w := callerWorld(1)
	h := start(t, w)
	c := w.Callers[0]
	tok, err := h.callerCredential(c, c.TenantID).GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}})
	if err != nil {
		t.Fatalf("GetToken(Graph) in the caller's tenant: %v", err)
	}
	if _, claims := h.verified(tok.Token); claims["appid"] != c.App.ClientID || claims["tid"] != c.TenantID || claims["roles"] != nil {
		t.Errorf("caller's Graph token: appid %v, tid %v, roles %v; want %s, %s, none", claims["appid"], claims["tid"], claims["roles"], c.App.ClientID, c.TenantID)
	}
	if status, body := h.get("/v1.0/organization", tok.Token); status != 403 {
		t.Errorf("GET /organization with the caller's Graph token: %d %s, want 403", status, body)
	}
}

// TestCallerAPIToken drives a caller's whole chain: its managed identity's token, exchanged through its app's FIC
// at the home tenant for a token for the API, in both token versions.
func TestCallerAPIToken(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version int
		scope   string
		want    map[string]string // claims; "-" = absent
	}{
		{"v1 by app ID URI", 1, apiURI + "/.default", map[string]string{"aud": apiURI, "ver": "1.0", "appidacr": "2",
			"iss": "https://sts.windows.net/%home%/", "idp": "https://sts.windows.net/%home%/", "azp": "-"}},
		{"v1 by client id", 0, apiClientID + "/.default", map[string]string{"aud": apiClientID, "ver": "1.0"}},
		{"v2", 2, apiURI + "/.default", map[string]string{"aud": apiClientID, "ver": "2.0", "azpacr": "2",
			"iss": "https://login.microsoftonline.com/%home%/v2.0", "appid": "-", "idp": "-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := callerWorld(tc.version)
			h := start(t, w)
			home := w.HomeTenantID
			for i, c := range w.Callers {
				tok, err := h.callerCredential(c, home).GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{tc.scope}})
				if err != nil {
					t.Fatalf("%s: GetToken(%s): %v", c.Name, tc.scope, err)
				}
				header, claims := h.verified(tok.Token)
				if _, hasX5t := header["x5t"]; hasX5t != (tc.want["ver"] == "1.0") {
					t.Errorf("%s: header %v: x5t only in v1.0 tokens", c.Name, header)
				}
				want := map[string]string{"tid": home, "idtyp": "app"}
				for k, v := range tc.want {
					want[k] = strings.ReplaceAll(v, "%home%", home)
				}
				app := "appid"
				if tc.want["ver"] == "2.0" {
					app = "azp"
				}
				want[app] = c.App.ClientID
				for k, v := range want {
					if got, ok := claims[k]; v == "-" && ok || v != "-" && got != v {
						t.Errorf("%s: claim %s = %v, want %q", c.Name, k, got, v)
					}
				}
				sp, _ := claims["oid"].(string)
				if claims["sub"] != sp || i == 0 && sp != contosoSP || i == 1 && (len(sp) != 36 || sp == contosoSP) {
					t.Errorf("%s: oid %v, sub %v; want both its service principal in the home tenant", c.Name, claims["oid"], claims["sub"])
				}
				// Contoso's caller holds one role; Fabrikam's none, and the API does not require one.
				roles, hasRoles := claims["roles"].([]any)
				if i == 0 && !slices.Equal(roles, []any{"Reports.Read.Tenant"}) || i == 1 && hasRoles {
					t.Errorf("%s: roles = %v, want %v", c.Name, claims["roles"], c.Roles)
				}
			}
			if m := h.run.Server.Metrics(); m.APITokensIssued != 2 || m.TokensIssued != 0 || m.MITokensIssued != 2 {
				t.Errorf("Metrics: %d API, %d Graph, %d MI tokens; want 2, 0, 2", m.APITokensIssued, m.TokensIssued, m.MITokensIssued)
			}
		})
	}
}

func TestCallerTokenErrors(t *testing.T) {
	sample := emulator.SampleWorld()
	home, contoso, fabrikam := sample.HomeTenantID, sample.Tenants[0].ID, sample.Tenants[1].ID
	for _, tc := range []struct {
		name    string
		change  func(w *emulator.World)
		caller  int    // index into callerWorld's callers
		tenant  string // the token endpoint's
		scope   string
		homeMI  bool // assert with the home managed identity instead of the caller's
		want    int
		status  int
		oauth   string
		message string // a part of error_description
	}{
		{name: "unknown resource", tenant: home, scope: "api://nope/.default", want: 500011, status: 400, oauth: "invalid_resource"},
		{name: "the API from the caller's own tenant", tenant: contoso, scope: apiURI + "/.default", want: 500011,
			status: 400, oauth: "invalid_resource", message: "named " + apiURI + " was not found in the tenant named Contoso"},
		{name: "no role while assignment is required", caller: 1, tenant: home, scope: apiURI + "/.default",
			change: func(w *emulator.World) { w.API.AssignmentRequired = true }, want: 501051, status: 400,
			oauth: "invalid_grant", message: "(Fabrikam automation) is not assigned to a role for the application '" + apiURI + "'(tenantreport API)."},
		{name: "a third tenant", tenant: fabrikam, scope: apiURI + "/.default", want: 700016, status: 400, oauth: "unauthorized_client"},
		{name: "FIC trusts the home managed identity", tenant: home, scope: apiURI + "/.default", homeMI: true,
			change: func(w *emulator.World) {
				w.Callers[0].App.FederatedCredentials[0].Issuer = "https://login.microsoftonline.com/" + home + "/v2.0"
				w.Callers[0].App.FederatedCredentials[0].Subject = w.ManagedIdentity.ObjectID
			}, want: 700236, status: 401, oauth: "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := callerWorld(1)
			if tc.change != nil {
				tc.change(w)
			}
			if err := w.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			h := start(t, w)
			c := w.Callers[tc.caller]
			cred := h.callerCredential(c, tc.tenant)
			if tc.homeMI {
				cred = h.appCredential(tc.tenant, c.App.ClientID, miAssertion(h.mi()))
			}
			_, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{tc.scope}})
			if err == nil {
				t.Fatalf("GetToken succeeded, want AADSTS%d", tc.want)
			}
			if codes := errorCodes(t, err); !slices.Contains(codes, tc.want) {
				t.Errorf("error_codes = %v, want %d", codes, tc.want)
			}
			var afe *azidentity.AuthenticationFailedError
			_ = errors.As(err, &afe) // errorCodes checked it
			body, _ := azruntime.Payload(afe.RawResponse)
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			_ = json.Unmarshal(body, &e) // errorCodes checked its shape
			if afe.RawResponse.StatusCode != tc.status || e.Error != tc.oauth || !strings.Contains(e.Description, tc.message) {
				t.Errorf("%d %s %q, want %d %s containing %q", afe.RawResponse.StatusCode, e.Error, e.Description, tc.status, tc.oauth, tc.message)
			}
			if m := h.run.Server.Metrics(); m.APITokensIssued != 0 || m.TokenErrors[fmt.Sprintf("AADSTS%d %s", tc.want, tc.tenant)] == 0 {
				t.Errorf("Metrics: %d API tokens, errors %v; want none and an AADSTS%d", m.APITokensIssued, m.TokenErrors, tc.want)
			}
		})
	}
}

func TestValidateCallers(t *testing.T) {
	valid := callerWorld(2)
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate(callerWorld) = %v", err)
	}
	b, _ := json.Marshal(valid)
	if loaded, err := emulator.LoadWorld(bytes.NewReader(b)); err != nil || !slices.Equal(loaded.Callers[0].Roles, valid.Callers[0].Roles) ||
		loaded.API.AccessTokenVersion != 2 || loaded.Callers[0].ServicePrincipalID != contosoSP {
		t.Errorf("LoadWorld(JSON of callerWorld) = %v, want the same API and callers", err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(w *emulator.World)
		field  string
		target error
	}{
		{"api without client id", func(w *emulator.World) { w.API.ClientID = "" }, "api.clientId", emulator.ErrMissing},
		{"api is the bridge app", func(w *emulator.World) { w.API.ClientID = w.BridgeApp.ClientID }, "api.clientId", emulator.ErrDuplicate},
		{"identifier URI without scheme", func(w *emulator.World) { w.API.IdentifierURI = "tenantreport" }, "api.identifierUri", emulator.ErrNotURI},
		{"token version 3", func(w *emulator.World) { w.API.AccessTokenVersion = 3 }, "api.accessTokenVersion", emulator.ErrOutOfRange},
		{"duplicate app role", func(w *emulator.World) { w.API.AppRoles = append(w.API.AppRoles, "Reports.Run") },
			"api.appRoles[3]", emulator.ErrDuplicate},
		{"duplicate caller name", func(w *emulator.World) { w.Callers[1].Name = strings.ToUpper(w.Callers[0].Name) },
			"callers[1].name", emulator.ErrDuplicate},
		{"caller in an unknown tenant", func(w *emulator.World) { w.Callers[0].TenantID = "0a0b0c0d-0000-4000-8000-000000000009" },
			"callers[0].tenantId", emulator.ErrUnknownTenant},
		{"caller uses the home identity", func(w *emulator.World) { w.Callers[1].ManagedIdentity.ClientID = w.ManagedIdentity.ClientID },
			"callers[1].managedIdentity.clientId", emulator.ErrDuplicate},
		{"caller app is the API", func(w *emulator.World) { w.Callers[0].App.ClientID = apiClientID },
			"callers[0].app.clientId", emulator.ErrDuplicate},
		{"caller app id not a GUID", func(w *emulator.World) { w.Callers[0].App.ClientID = "contoso" },
			"callers[0].app.clientId", emulator.ErrNotGUID},
		{"FIC without subject", func(w *emulator.World) { w.Callers[1].App.FederatedCredentials[0].Subject = "" },
			"callers[1].app.federatedCredentials[0].subject", emulator.ErrMissing},
		{"role the API does not define", func(w *emulator.World) { w.Callers[0].Roles = []string{"Reports.Write"} },
			"callers[0].roles[0]", emulator.ErrUnknownRole},
		{"roles without an API", func(w *emulator.World) { w.API = nil }, "callers[0].roles[0]", emulator.ErrUnknownRole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := callerWorld(2)
			tc.edit(w)
			err := w.Validate()
			var fe *emulator.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, tc.target) {
				t.Errorf("Validate() = %v, want a FieldError for %s wrapping %v", err, tc.field, tc.target)
			}
		})
	}
}

// TestSignTokenAndRotateKey checks the hooks for token validators: SignToken signs with the first published key,
// and after RotateKey the JWKS publishes the new key first and the old one after it, new tokens carry the new kid,
// and tokens and assertions signed with the old key still pass, until a second rotation retires it.
func TestSignTokenAndRotateKey(t *testing.T) {
	w := emulator.SampleWorld()
	h := start(t, w)
	contoso := w.Tenants[0].ID
	graphToken := func() string {
		t.Helper()
		// A new credential, so that its token comes from the token endpoint, not the credential's cache.
		tok, err := h.credential(contoso, nil).GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}})
		if err != nil {
			t.Fatalf("Graph token: %v", err)
		}
		return tok.Token
	}
	kidOf := func(token string) any {
		t.Helper()
		tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Header["kid"]
	}
	oldKids, oldKeys := h.jwks()
	oldToken := graphToken()

	now := time.Now()
	for _, ver := range []string{"1.0", "2.0"} {
		signed, err := h.run.Server.SignToken(map[string]any{"ver": ver, "idtyp": "user", "scp": "Reports.Read",
			"nbf": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}) // not yet valid: no validator would mint it
		if err != nil {
			t.Fatalf("SignToken: %v", err)
		}
		parsed, err := jwt.Parse(signed, func(*jwt.Token) (any, error) { return oldKeys[oldKids[0]], nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
		if err != nil {
			t.Fatalf("SignToken(ver %s) does not verify with the published key: %v", ver, err)
		}
		if _, hasX5t := parsed.Header["x5t"]; parsed.Header["kid"] != oldKids[0] || hasX5t != (ver == "1.0") {
			t.Errorf("SignToken(ver %s) header %v; want kid %s, x5t only for 1.0", ver, parsed.Header, oldKids[0])
		}
	}

	h.run.Server.RotateKey()
	kids, _ := h.jwks()
	if len(kids) != 2 || kids[1] != oldKids[0] || kids[0] == oldKids[0] {
		t.Fatalf("JWKS kids after RotateKey = %v, want a new key and then %v", kids, oldKids)
	}
	// The managed-identity token MSAL cached before the rotation is still a valid assertion.
	newToken := graphToken()
	if got := kidOf(newToken); got != kids[0] {
		t.Errorf("Graph token after RotateKey has kid %v, want the new key %s", got, kids[0])
	}
	for name, tok := range map[string]string{"old": oldToken, "new": newToken} {
		if status, body := h.get("/v1.0/organization", tok); status != 200 {
			t.Errorf("GET /organization with the %s key's token: %d %s", name, status, body)
		}
	}

	// A second rotation, while the JWKS is being served, retires the first key.
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.run.Server.RotateKey()
	}()
	h.jwks()
	<-done
	if kids2, _ := h.jwks(); len(kids2) != 2 || kids2[1] != kids[0] || slices.Contains(kids2, oldKids[0]) {
		t.Errorf("JWKS kids after a second RotateKey = %v, want a newer key, then %s, and not %s", kids2, kids[0], oldKids[0])
	}
	if status, _ := h.get("/v1.0/organization", oldToken); status != 401 {
		t.Errorf("GET /organization with a retired key's token: %d, want 401", status)
	}
}
