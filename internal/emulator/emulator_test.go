package emulator_test

import (
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	azruntime "github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/emulatortest"
)

const graphScope = "https://graph.microsoft.com/.default"

// leakGuard fails the test if any request leaves 127.0.0.1, e.g. MSAL instance discovery against
// login.microsoftonline.com.
type leakGuard struct {
	t    testing.TB
	next http.RoundTripper
}

func (g leakGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Hostname() != "127.0.0.1" {
		g.t.Errorf("request escaped the emulator: %s %s", r.Method, r.URL.Redacted())
		return nil, fmt.Errorf("leak guard: refusing %s", r.URL.Host)
	}
	return g.next.RoundTrip(r)
}

// harness is a running emulator plus the clients a test drives it with.
type harness struct {
	t      *testing.T
	world  *emulator.World
	run    *emulator.Running
	client *http.Client // trusts the emulator CA, refuses other hosts
}

// start serves w and points the process's managed-identity environment at it (azidentity reads
// IDENTITY_ENDPOINT and IDENTITY_HEADER from the environment, so this is a legitimate t.Setenv). It first gives w's
// identity a client id of its own: MSAL caches identity tokens for the whole process by client id, and a token
// another test left there would skip this emulator's identity endpoint.
func start(t *testing.T, w *emulator.World) *harness {
	t.Helper()
	return startShared(t, emulatortest.OwnIdentity(w))
}

// startShared is start for a test that means to share w's identity, and MSAL's cache, with another emulator.
func startShared(t *testing.T, w *emulator.World) *harness {
	t.Helper()
	r, err := emulator.Start(w)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	t.Setenv("IDENTITY_ENDPOINT", r.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", r.Server.IdentityHeader())
	return &harness{t: t, world: w, run: r, client: &http.Client{Transport: leakGuard{t, r.Client().Transport}}}
}

func (h *harness) mi() *azidentity.ManagedIdentityCredential {
	h.t.Helper()
	return h.miFor(h.world.ManagedIdentity.ClientID)
}

// miFor returns a credential for the user-assigned identity with clientID.
func (h *harness) miFor(clientID string) *azidentity.ManagedIdentityCredential {
	h.t.Helper()
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: h.client},
		ID:            azidentity.ClientID(clientID),
	})
	if err != nil {
		h.t.Fatalf("NewManagedIdentityCredential: %v", err)
	}
	return cred
}

// credential returns the per-tenant credential the product builds: the bridge app, asserted by the managed identity.
func (h *harness) credential(tenantID string, assertion func(context.Context) (string, error)) *azidentity.ClientAssertionCredential {
	h.t.Helper()
	if assertion == nil {
		assertion = miAssertion(h.mi())
	}
	return h.appCredential(tenantID, h.world.BridgeApp.ClientID, assertion)
}

// miAssertion returns a client assertion callback that asks mi for a token exchange token, as the product does.
func miAssertion(mi *azidentity.ManagedIdentityCredential) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		tok, err := mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://AzureADTokenExchange/.default"}})
		return tok.Token, err
	}
}

// appCredential returns the credential of the app clientID in tenantID, asserted by assertion.
func (h *harness) appCredential(tenantID, clientID string, assertion func(context.Context) (string, error)) *azidentity.ClientAssertionCredential {
	h.t.Helper()
	cred, err := azidentity.NewClientAssertionCredential(tenantID, clientID, assertion,
		&azidentity.ClientAssertionCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: h.run.URL + "/"},
				Transport: h.client,
			},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		h.t.Fatalf("NewClientAssertionCredential(%s): %v", tenantID, err)
	}
	return cred
}

// graph returns a Graph client on the kiota default middleware over the emulator transport. validHosts are the
// hosts the auth provider attaches tokens to.
func (h *harness) graph(cred azcore.TokenCredential, validHosts ...string) *msgraphsdk.GraphServiceClient {
	h.t.Helper()
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{graphScope}, validHosts)
	if err != nil {
		h.t.Fatalf("auth provider: %v", err)
	}
	opts := msgraphsdk.GetDefaultClientOptions()
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(h.client.Transport,
		msgraphgocore.GetDefaultMiddlewaresWithOptions(&opts)...)}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		h.t.Fatalf("adapter: %v", err)
	}
	adapter.SetBaseUrl(h.run.URL + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter)
}

func unverifiedClaims(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatalf("ParseUnverified: %v", err)
	}
	return claims
}

func TestManagedIdentityToken(t *testing.T) {
	w := emulator.SampleWorld()
	h := start(t, w)
	tok, err := h.mi().GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"api://AzureADTokenExchange/.default"}})
	if err != nil {
		t.Fatalf("ManagedIdentityCredential.GetToken: %v", err)
	}
	if until := time.Until(tok.ExpiresOn); until < 50*time.Minute || until > 61*time.Minute {
		t.Errorf("MI token expires in %v, want about 1h", until)
	}
	c := unverifiedClaims(t, tok.Token)
	want := map[string]string{
		"iss":   "https://login.microsoftonline.com/" + w.HomeTenantID + "/v2.0",
		"sub":   w.ManagedIdentity.ObjectID,
		"oid":   w.ManagedIdentity.ObjectID,
		"aud":   "api://AzureADTokenExchange",
		"tid":   w.HomeTenantID,
		"azp":   w.ManagedIdentity.ClientID,
		"idtyp": "app",
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("MI token claim %s = %v, want %q", k, c[k], v)
		}
	}
}

func TestManagedIdentityEndpointChecks(t *testing.T) {
	w := emulator.SampleWorld()
	h := start(t, w)
	ok := "api-version=2019-08-01&resource=api://AzureADTokenExchange"
	for _, tc := range []struct {
		name, query, header string
		want                int
		message             string // of a 400, in App Service's error shape
	}{
		{"client id", ok + "&client_id=" + w.ManagedIdentity.ClientID, h.run.Server.IdentityHeader(), 200, ""},
		{"principal id", ok + "&principal_id=" + w.ManagedIdentity.ObjectID, h.run.Server.IdentityHeader(), 200, ""},
		{"object id", ok + "&object_id=" + w.ManagedIdentity.ObjectID, h.run.Server.IdentityHeader(), 200, ""},
		{"no identity named and no system-assigned one", ok, h.run.Server.IdentityHeader(), 400,
			"Unable to load the proper Managed Identity."},
		{"no header", ok, "", 401, ""},
		{"wrong header", ok, "nope", 401, ""},
		{"other identity", ok + "&client_id=11111111-2222-3333-4444-555555555555", h.run.Server.IdentityHeader(), 400,
			"No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId."},
		{"client id and another identity's principal id", ok + "&client_id=" + w.ManagedIdentity.ClientID +
			"&principal_id=11111111-2222-3333-4444-555555555555", h.run.Server.IdentityHeader(), 400, ""},
		{"resource id", ok + "&mi_res_id=/subscriptions/x", h.run.Server.IdentityHeader(), 400, ""},
		{"old api version", "api-version=2017-09-01&resource=x", h.run.Server.IdentityHeader(), 400, ""},
	} {
		status, body := miGet(t, h, tc.query, tc.header)
		if status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, status, tc.want)
		}
		var e struct {
			StatusCode    int    `json:"statusCode"`
			Message       string `json:"message"`
			CorrelationID string `json:"correlationId"`
		}
		if tc.message != "" && (json.Unmarshal(body, &e) != nil || e.StatusCode != tc.want || e.Message != tc.message || e.CorrelationID == "") {
			t.Errorf("%s: body %s, want App Service's error with message %q", tc.name, body, tc.message)
		}
	}
}

// miGet sends a raw request to the emulator's managed-identity endpoint.
func miGet(t *testing.T, h *harness, query, header string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, h.run.URL+"/msi/token?"+query, nil)
	if header != "" {
		req.Header.Set("X-IDENTITY-HEADER", header)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("GET /msi/token?%s: %v", query, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestSystemAssignedIdentity checks that a world that declares a system-assigned identity serves it to a request
// that names no identity, and the user-assigned one to a request that names it, as App Service does.
func TestSystemAssignedIdentity(t *testing.T) {
	w := emulator.SampleWorld()
	w.SystemAssignedIdentity = &emulator.ManagedIdentity{
		ClientID: "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", ObjectID: "8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"}
	h := start(t, w)
	ok := "api-version=2019-08-01&resource=api://AzureADTokenExchange"
	for _, tc := range []struct {
		name, query string
		want        *emulator.ManagedIdentity
	}{
		{"no identity named", ok, w.SystemAssignedIdentity},
		{"client id", ok + "&client_id=" + w.ManagedIdentity.ClientID, &w.ManagedIdentity},
	} {
		status, body := miGet(t, h, tc.query, h.run.Server.IdentityHeader())
		var tok struct {
			AccessToken string `json:"access_token"`
			ClientID    string `json:"client_id"`
		}
		if status != 200 || json.Unmarshal(body, &tok) != nil {
			t.Fatalf("%s: %d %s", tc.name, status, body)
		}
		c := unverifiedClaims(t, tok.AccessToken)
		if tok.ClientID != tc.want.ClientID || c["oid"] != tc.want.ObjectID || c["appid"] != tc.want.ClientID {
			t.Errorf("%s: client_id %s, token oid %v appid %v; want the identity %+v", tc.name, tok.ClientID, c["oid"], c["appid"], tc.want)
		}
	}
}

// TestTokensAreSignedLikeEntra checks that every token is RS256 with the kid of the one key in the JWKS, that the
// JWKS key verifies it and carries its certificate, and that discovery says RS256.
func TestTokensAreSignedLikeEntra(t *testing.T) {
	w := emulator.SampleWorld()
	h := start(t, w)
	tenant := w.Tenants[0].ID
	get := func(path string, v any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, h.run.URL+path, nil)
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
	}
	var disc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	get("/"+tenant+"/v2.0/.well-known/openid-configuration", &disc)
	if !slices.Equal(disc.Algs, []string{"RS256"}) {
		t.Errorf("id_token_signing_alg_values_supported = %v, want [RS256]", disc.Algs)
	}
	var jwks struct {
		Keys []struct {
			Kty, Use, Kid, X5t, N, E, Issuer string
			X5c                              []string
		}
	}
	get("/"+tenant+"/discovery/v2.0/keys", &jwks)
	if len(jwks.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(jwks.Keys))
	}
	k := jwks.Keys[0]
	n, errN := base64.RawURLEncoding.DecodeString(k.N)
	e, errE := base64.RawURLEncoding.DecodeString(k.E)
	der, errC := base64.StdEncoding.DecodeString(firstOf(k.X5c))
	cert, errP := x509.ParseCertificate(der)
	if k.Kty != "RSA" || k.Use != "sig" || k.Kid == "" || k.X5t != k.Kid || k.Issuer != "https://login.microsoftonline.com/{tenantid}/v2.0" ||
		errors.Join(errN, errE, errC, errP) != nil {
		t.Fatalf("JWKS key = %+v (%v)", k, errors.Join(errN, errE, errC, errP))
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	if thumb := sha1.Sum(der); base64.RawURLEncoding.EncodeToString(thumb[:]) != k.X5t || !pub.Equal(cert.PublicKey) || pub.N.BitLen() != 2048 {
		t.Errorf("x5t %s, x5c's key equal to n, e: %v, %d bits; want the certificate's thumbprint, true, 2048", k.X5t, pub.Equal(cert.PublicKey), pub.N.BitLen())
	}
	miTok, err := h.mi().GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"api://AzureADTokenExchange/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	graphTok, err := h.credential(tenant, nil).GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"managed identity": miTok.Token, "graph": graphTok.Token} {
		parsed, err := jwt.Parse(tok, func(t *jwt.Token) (any, error) { return pub, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
		if err != nil || parsed.Header["kid"] != k.Kid {
			t.Errorf("%s token: %v, kid %v; want RS256 verified by the JWKS key %s", name, err, parsed.Header["kid"], k.Kid)
		}
	}
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func TestExchangeAndGraph(t *testing.T) {
	w := emulator.SampleWorld()
	h := start(t, w)
	for _, tn := range w.Tenants[:2] { // Contoso, Fabrikam; Northwind is misconfigured
		t.Run(tn.DisplayName, func(t *testing.T) {
			cred := h.credential(tn.ID, nil)
			tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}, EnableCAE: true})
			if err != nil {
				t.Fatalf("ClientAssertionCredential.GetToken(%s): %v", tn.DisplayName, err)
			}
			c := unverifiedClaims(t, tok.Token)
			if c["tid"] != tn.ID || c["appid"] != w.BridgeApp.ClientID || c["aud"] != "https://graph.microsoft.com" ||
				c["iss"] != "https://sts.windows.net/"+tn.ID+"/" {
				t.Errorf("Graph token claims tid=%v appid=%v aud=%v iss=%v", c["tid"], c["appid"], c["aud"], c["iss"])
			}
			wantRoles := tn.Grants
			if wantRoles == nil {
				wantRoles = emulator.KnownPermissions()
			}
			var roles []string
			for _, r := range c["roles"].([]any) {
				roles = append(roles, r.(string))
			}
			if !slices.Equal(roles, wantRoles) {
				t.Errorf("roles = %v, want %v", roles, wantRoles)
			}

			g := h.graph(cred, "127.0.0.1")
			orgs, err := g.Organization().Get(t.Context(), nil)
			if err != nil {
				t.Fatalf("GET /organization: %v", err)
			}
			if v := orgs.GetValue(); len(v) != 1 || *v[0].GetDisplayName() != tn.DisplayName || *v[0].GetId() != tn.ID {
				t.Errorf("organization = %d entries, want %s", len(v), tn.DisplayName)
			} else if d := v[0].GetVerifiedDomains(); len(d) != 1 || !*d[0].GetIsInitial() || !strings.HasSuffix(*d[0].GetName(), ".onmicrosoft.com") {
				t.Errorf("verifiedDomains = %v", d)
			}

			top := int32(999)
			page, err := g.Users().Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{
				QueryParameters: &users.UsersRequestBuilderGetQueryParameters{
					Select: []string{"id", "displayName", "userPrincipalName", "userType", "accountEnabled", "externalUserState", "createdDateTime"},
					Top:    &top,
				},
			})
			var got emulator.Counts
			pages := 0
			ids := map[string]bool{}
			for err == nil {
				pages++
				for _, u := range page.GetValue() {
					got.Users++
					ids[*u.GetId()] = true
					if *u.GetAccountEnabled() {
						got.EnabledUsers++
					}
					switch *u.GetUserType() {
					case "Guest":
						got.Guests++
						if !strings.Contains(*u.GetUserPrincipalName(), "#EXT#@") || u.GetExternalUserState() == nil {
							t.Errorf("guest %s: upn %s, externalUserState %v", *u.GetId(), *u.GetUserPrincipalName(), u.GetExternalUserState())
						}
					case "Member":
						if u.GetExternalUserState() != nil {
							t.Errorf("member %s has externalUserState", *u.GetId())
						}
					}
					if u.GetMail() != nil || u.GetJobTitle() != nil || u.GetGivenName() != nil {
						t.Fatalf("user %s has unselected properties (mail/jobTitle/givenName)", *u.GetId())
					}
					if u.GetCreatedDateTime() == nil || u.GetCreatedDateTime().After(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
						t.Errorf("user %s createdDateTime = %v", *u.GetId(), u.GetCreatedDateTime())
					}
				}
				next := page.GetOdataNextLink()
				if next == nil {
					break
				}
				if !strings.HasPrefix(*next, h.run.URL+"/v1.0/users?") {
					t.Fatalf("nextLink %q is not absolute under %s", *next, h.run.URL)
				}
				page, err = g.Users().WithUrl(*next).Get(t.Context(), nil)
			}
			if err != nil {
				t.Fatalf("GET /users page %d: %v", pages+1, err)
			}
			if want := w.Expect(tn.ID); got != want {
				t.Errorf("users counted %+v, want Expect(%s) = %+v", got, tn.DisplayName, want)
			}
			if len(ids) != got.Users {
				t.Errorf("%d distinct ids among %d users", len(ids), got.Users)
			}
			if wantPages := (tn.Users + 998) / 999; pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
			m := h.run.Server.Metrics()
			if n := m.Requests["graph /users "+tn.ID]; n != pages {
				t.Errorf(`Metrics.Requests["graph /users %s"] = %d, want %d`, tn.ID, n, pages)
			}
		})
	}
	if m := h.run.Server.Metrics(); m.TokensIssued != 2 {
		t.Errorf("TokensIssued = %d, want 2 (one per tenant; the credentials cache them)", m.TokensIssued)
	}
}

// errorCodes returns the error_codes of a token-endpoint failure, which azidentity surfaces as
// *AuthenticationFailedError with the raw response.
func errorCodes(t *testing.T, err error) []int {
	t.Helper()
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil {
		t.Fatalf("error %v is not an AuthenticationFailedError with a response", err)
	}
	body, rerr := azruntime.Payload(afe.RawResponse)
	if rerr != nil {
		t.Fatalf("reading the error body: %v", rerr)
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Codes       []int  `json:"error_codes"`
		TraceID     string `json:"trace_id"`
		Correlation string `json:"correlation_id"`
		Timestamp   string `json:"timestamp"`
		ErrorURI    string `json:"error_uri"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	if len(e.Codes) == 0 || !strings.HasPrefix(e.Description, fmt.Sprintf("AADSTS%d: ", e.Codes[0])) ||
		!strings.Contains(e.Description, "Trace ID: "+e.TraceID) || e.Correlation == "" || e.Timestamp == "" ||
		e.ErrorURI != fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", e.Codes[0]) {
		t.Errorf("error body is not in Entra's v2.0 shape: %s", body)
	}
	return e.Codes
}

func TestTokenErrors(t *testing.T) {
	sample := emulator.SampleWorld()
	contoso, northwind := sample.Tenants[0], sample.Tenants[2]
	past := time.Now().Add(-2 * time.Hour)
	for _, tc := range []struct {
		name      string
		change    func(w *emulator.World)
		tenant    string
		clientID  string                         // "" = the bridge app
		assertion func(w *emulator.World) string // nil = the managed identity
		want      int
		status    int
	}{
		{name: "admin consent pending", tenant: northwind.ID, want: 700016, status: 400},
		{name: "unknown tenant", tenant: "00000000-dead-beef-0000-000000000000", want: 90002, status: 400},
		{name: "unknown tenant by domain", tenant: "nowhere.onmicrosoft.com", want: 90002, status: 400},
		{name: "wrong client id", tenant: contoso.ID, clientID: "99999999-9999-4999-8999-999999999999", want: 700016, status: 400},
		{name: "app registered in another tenant", tenant: contoso.ID, want: 700236, status: 401,
			change: func(w *emulator.World) { w.BridgeApp.TenantID = contoso.ID }},
		{name: "fic issuer mismatch", tenant: contoso.ID, want: 700211, status: 401,
			change: func(w *emulator.World) {
				w.BridgeApp.FederatedCredentials[0].Issuer = "https://login.microsoftonline.com/" + w.HomeTenantID + "/v2.0/"
			}},
		{name: "fic subject is the client id, not the object id", tenant: contoso.ID, want: 700213, status: 401,
			change: func(w *emulator.World) { w.BridgeApp.FederatedCredentials[0].Subject = w.ManagedIdentity.ClientID }},
		{name: "fic subject differs from the object id only in case", tenant: contoso.ID, want: 7002138, status: 401,
			change: func(w *emulator.World) {
				w.BridgeApp.FederatedCredentials[0].Subject = strings.ToUpper(w.ManagedIdentity.ObjectID)
			}},
		{name: "fic audience mismatch", tenant: contoso.ID, want: 700212, status: 401,
			change: func(w *emulator.World) {
				w.BridgeApp.FederatedCredentials[0].Audiences = []string{"api://AzureADTokenExchangeX"}
			}},
		{name: "expired assertion", tenant: contoso.ID, want: 700024, status: 401,
			assertion: func(w *emulator.World) string {
				return sign(t, w, miClaims(w, past.Add(-time.Hour), past))
			}},
		{name: "user token as assertion", tenant: contoso.ID, want: 700229, status: 401,
			assertion: func(w *emulator.World) string {
				c := miClaims(w, time.Now(), time.Now().Add(time.Hour))
				c["idtyp"] = "user"
				return sign(t, w, c)
			}},
		{name: "app has no federated credential", tenant: contoso.ID, want: 70021, status: 401,
			change: func(w *emulator.World) { w.BridgeApp.FederatedCredentials = nil }},
		{name: "app token that is not a managed identity's", tenant: contoso.ID, want: 700226, status: 401,
			assertion: func(w *emulator.World) string {
				c := miClaims(w, time.Now(), time.Now().Add(time.Hour))
				c["appid"] = "11111111-2222-4333-8444-555555555555"
				return sign(t, w, c)
			}},
		{name: "service principal disabled", tenant: contoso.ID, want: 7000112, status: 400,
			change: func(w *emulator.World) { w.Tenants[0].ServicePrincipalDisabled = true }},
		{name: "blocked by conditional access for workload identities", tenant: contoso.ID, want: 53003, status: 400,
			change: func(w *emulator.World) { w.Tenants[0].BlockedByConditionalAccess = true }},
		{name: "token endpoint outage", tenant: contoso.ID, want: 90033, status: 503,
			change: func(w *emulator.World) { w.Tenants[0].TokenOutage = true }},
		{name: "assertion from another emulator", tenant: contoso.ID, want: 50013, status: 401,
			assertion: func(w *emulator.World) string {
				other := *w
				other.Seed++
				return sign(t, &other, miClaims(w, time.Now(), time.Now().Add(time.Hour)))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := emulator.SampleWorld()
			if tc.change != nil {
				tc.change(w)
			}
			h := start(t, w)
			if tc.clientID != "" {
				w.BridgeApp.ClientID = tc.clientID // the credential uses it; the server copied the world already
			}
			var assertion func(context.Context) (string, error)
			if tc.assertion != nil {
				a := tc.assertion(w)
				assertion = func(context.Context) (string, error) { return a, nil }
			}
			_, err := h.credential(tc.tenant, assertion).GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}})
			if err == nil {
				t.Fatalf("GetToken succeeded, want AADSTS%d", tc.want)
			}
			if codes := errorCodes(t, err); !slices.Contains(codes, tc.want) {
				t.Errorf("error_codes = %v, want %d", codes, tc.want)
			}
			var afe *azidentity.AuthenticationFailedError
			if errors.As(err, &afe) && afe.RawResponse.StatusCode != tc.status {
				t.Errorf("status %d, want %d", afe.RawResponse.StatusCode, tc.status)
			}
			m := h.run.Server.Metrics()
			if m.TokensIssued != 0 {
				t.Errorf("TokensIssued = %d, want 0", m.TokensIssued)
			}
			if n := m.TokenErrors[fmt.Sprintf("AADSTS%d %s", tc.want, tc.tenant)]; n == 0 {
				t.Errorf("TokenErrors = %v, want an AADSTS%d entry", m.TokenErrors, tc.want)
			}
		})
	}
}

func miClaims(w *emulator.World, iat, exp time.Time) map[string]any {
	return map[string]any{
		"iss": "https://login.microsoftonline.com/" + w.HomeTenantID + "/v2.0", "sub": w.ManagedIdentity.ObjectID,
		"aud": "api://AzureADTokenExchange", "tid": w.HomeTenantID, "idtyp": "app",
		"iat": iat.Unix(), "nbf": iat.Unix(), "exp": exp.Unix(),
	}
}

func sign(t *testing.T, w *emulator.World, claims map[string]any) string {
	t.Helper()
	s, err := emulator.SignForTest(w, claims)
	if err != nil {
		t.Fatalf("SignForTest: %v", err)
	}
	return s
}

func TestScopeErrors(t *testing.T) {
	w := emulator.SampleWorld()
	h := start(t, w)
	cred := h.credential(w.Tenants[0].ID, nil)
	for scope, want := range map[string]int{
		"https://management.azure.com/.default": 500011,
		"https://graph.microsoft.com/User.Read": 1002012,
	} {
		_, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{scope}})
		if err == nil {
			t.Errorf("GetToken(%s) succeeded, want AADSTS%d", scope, want)
			continue
		}
		if codes := errorCodes(t, err); !slices.Contains(codes, want) {
			t.Errorf("GetToken(%s): error_codes %v, want %d", scope, codes, want)
		}
	}
}

func odataError(t *testing.T, err error) (int, string) {
	t.Helper()
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not an ODataError", err, err)
	}
	code := ""
	if e := oe.GetErrorEscaped(); e != nil && e.GetCode() != nil {
		code = *e.GetCode()
	}
	return oe.ResponseStatusCode, code
}

func TestGraphErrors(t *testing.T) {
	w := emulator.SampleWorld()
	w.Tenants[0].Grants = []string{"Organization.Read.All"} // Contoso: consented, but User.Read.All not granted
	h := start(t, w)
	contoso := w.Tenants[0].ID
	cred := h.credential(contoso, nil)

	t.Run("missing permission", func(t *testing.T) {
		_, err := h.graph(cred, "127.0.0.1").Users().Get(t.Context(), nil)
		if status, code := odataError(t, err); status != 403 || code != "Authorization_RequestDenied" {
			t.Errorf("GET /users = %d %s, want 403 Authorization_RequestDenied", status, code)
		}
	})
	t.Run("host not in the auth provider's valid hosts sends no token", func(t *testing.T) {
		_, err := h.graph(cred, "graph.microsoft.com").Organization().Get(t.Context(), nil)
		if status, code := odataError(t, err); status != 401 || code != "InvalidAuthenticationToken" {
			t.Errorf("GET /organization = %d %s, want 401 InvalidAuthenticationToken", status, code)
		}
	})
	t.Run("top over 999", func(t *testing.T) {
		w2 := emulator.SampleWorld()
		h2 := start(t, w2)
		top := int32(1000)
		_, err := h2.graph(h2.credential(w2.Tenants[0].ID, nil), "127.0.0.1").Users().Get(t.Context(),
			&users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Top: &top}})
		if status, code := odataError(t, err); status != 400 || code != "Request_UnsupportedQuery" {
			t.Errorf("GET /users?$top=1000 = %d %s, want 400 Request_UnsupportedQuery", status, code)
		}
	})
	t.Run("raw requests", func(t *testing.T) {
		graphTok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}})
		if err != nil {
			t.Fatal(err)
		}
		miTok, err := h.mi().GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"api://AzureADTokenExchange"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, path, auth string
			status           int
			code, message    string
		}{
			{"no token", "/v1.0/users", "", 401, "InvalidAuthenticationToken", "Access token is empty."},
			{"not a jwt", "/v1.0/users", "Bearer abc", 401, "InvalidAuthenticationToken", ""},
			{"MI token has the wrong audience", "/v1.0/organization", "Bearer " + miTok.Token, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."},
			{"unknown segment", "/v1.0/groups", "Bearer " + graphTok.Token, 404, "Request_ResourceNotFound", "Resource not found for the segment 'groups'."},
			{"filter is not emulated", "/v1.0/organization?$filter=x", "Bearer " + graphTok.Token, 400, "Request_UnsupportedQuery", ""},
			{"unknown select property", "/v1.0/organization?$select=nope", "Bearer " + graphTok.Token, 400, "Request_BadRequest", ""},
		} {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, h.run.URL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			var e struct {
				Error struct {
					Code, Message string
					InnerError    struct {
						Date      string `json:"date"`
						RequestID string `json:"request-id"`
					} `json:"innerError"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%s: body %s: %v", tc.name, body, err)
			}
			if resp.StatusCode != tc.status || e.Error.Code != tc.code || (tc.message != "" && e.Error.Message != tc.message) ||
				e.Error.InnerError.RequestID == "" || e.Error.InnerError.Date == "" {
				t.Errorf("%s: %d %s, want %d %s %q", tc.name, resp.StatusCode, body, tc.status, tc.code, tc.message)
			}
		}
	})
}

func TestClientRefusesOtherHosts(t *testing.T) {
	r, err := emulator.Start(emulator.SampleWorld())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://login.microsoftonline.com/common/discovery/instance", nil)
	if resp, err := r.Client().Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatal("Running.Client reached login.microsoftonline.com, want a refusal")
	}
}

func TestEnv(t *testing.T) {
	w := emulator.SampleWorld()
	r, err := emulator.Start(w)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	env := r.Env("/tmp/ca.pem")
	var keys []string
	got := map[string]string{}
	for _, kv := range env {
		keys = append(keys, kv[0])
		got[kv[0]] = kv[1]
	}
	wantKeys := []string{"REPORT_GRAPH_TIME_SCALE", "REPORT_TENANTS", "BRIDGE_APP_CLIENT_ID", "MANAGED_IDENTITY_CLIENT_ID", "IDENTITY_ENDPOINT",
		"IDENTITY_HEADER", "REPORT_AUTHORITY_HOST", "REPORT_GRAPH_ENDPOINT", "REPORT_CA_FILE"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("Env keys = %v, want %v", keys, wantKeys)
	}
	var tenants []struct{ TenantID, DisplayName string }
	if err := json.Unmarshal([]byte(got["REPORT_TENANTS"]), &tenants); err != nil || len(tenants) != 3 ||
		tenants[2].TenantID != w.Tenants[2].ID || tenants[2].DisplayName != "Northwind Traders" {
		t.Errorf("REPORT_TENANTS = %s (%v)", got["REPORT_TENANTS"], err)
	}
	if got["IDENTITY_ENDPOINT"] != r.URL+"/msi/token" || got["REPORT_AUTHORITY_HOST"] != r.URL+"/" ||
		got["REPORT_GRAPH_ENDPOINT"] != r.URL || got["REPORT_CA_FILE"] != "/tmp/ca.pem" ||
		got["IDENTITY_HEADER"] != r.Server.IdentityHeader() || got["BRIDGE_APP_CLIENT_ID"] != w.BridgeApp.ClientID ||
		got["REPORT_GRAPH_TIME_SCALE"] != "1" {
		t.Errorf("Env = %v", env)
	}
}

// MSAL caches managed-identity tokens for the whole process, keyed by client id and resource only, so a second
// emulator receives the first one's token as its assertion. The signing key is derived from the world so that
// this still works.
func TestManagedIdentityCacheSpansEmulators(t *testing.T) {
	w := emulatortest.OwnIdentity(emulator.SampleWorld())
	first := startShared(t, w)
	if _, err := first.credential(w.Tenants[0].ID, nil).GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}}); err != nil {
		t.Fatalf("first emulator: %v", err)
	}
	w2 := emulator.SampleWorld()
	w2.ManagedIdentity.ClientID = w.ManagedIdentity.ClientID // the same identity
	second := startShared(t, w2)
	if _, err := second.credential(w.Tenants[0].ID, nil).GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}}); err != nil {
		t.Fatalf("second emulator: %v", err)
	}
	t.Logf("second emulator issued %d MI tokens (0 = MSAL served the first emulator's token from its process-wide cache)",
		second.run.Server.Metrics().MITokensIssued)
}
