package tenantauth_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/emulatortest"
	"github.com/tenantreport/tenantreport/internal/tenantauth"
)

const graphScope = emulatortest.GraphScope

// start serves world and points a Source at it, with the world's identity,
// which it first gives a client id of its own: MSAL caches identity tokens
// for the whole process by client id, and a token another test (or an earlier
// -count round) left there would skip this emulator's identity endpoint.
func start(t *testing.T, world *emulator.World) (*emulator.Running, *tenantauth.Source) {
	t.Helper()
	emulatortest.OwnIdentity(world)
	return emulatortest.Start(t, world, world.ManagedIdentity.ClientID)
}

func TestExchangeEveryTenantWithOneManagedIdentityToken(t *testing.T) {
	world := emulator.SampleWorld()
	world.Tenants = world.Tenants[:2] // the provisioned ones
	em, src := start(t, world)        // an identity of its own: the count starts at zero

	for round := range 2 {
		for _, tn := range world.Tenants {
			cred, err := src.For(tn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}, EnableCAE: true}); err != nil {
				t.Fatalf("round %d: GetToken(%s) = %v", round, tn.DisplayName, err)
			}
		}
		m := em.Server.Metrics()
		// The second round is served from the credentials' caches.
		if m.MITokensIssued != 1 || m.TokensIssued != len(world.Tenants) {
			t.Errorf("round %d: managed identity tokens = %d, graph tokens = %d; want 1 and %d",
				round, m.MITokensIssued, m.TokensIssued, len(world.Tenants))
		}
	}
	a, _ := src.For(world.Tenants[0].ID)
	b, _ := src.For(world.Tenants[0].ID)
	if a != b {
		t.Errorf("For returned a new credential for the same tenant; want it cached")
	}
}

func TestDiagnose(t *testing.T) {
	tests := []struct {
		name   string
		change func(w *emulator.World) string // returns the tenant to exchange for
		code   string
		says   string
	}{
		{"not consented", func(w *emulator.World) string { return w.Tenants[2].ID }, "AADSTS700016", "/adminconsent?client_id="},
		{"app in another tenant", func(w *emulator.World) string {
			w.BridgeApp.TenantID = w.Tenants[0].ID
			return w.Tenants[1].ID
		}, "AADSTS700236", "home tenant"},
		{"subject is not the identity", func(w *emulator.World) string {
			w.BridgeApp.FederatedCredentials[0].Subject = "00000000-0000-0000-0000-000000000001"
			return w.Tenants[0].ID
		}, "AADSTS700213", "object (principal) id"},
		{"subject is the identity's in other case", func(w *emulator.World) string {
			w.BridgeApp.FederatedCredentials[0].Subject = strings.ToUpper(w.ManagedIdentity.ObjectID)
			return w.Tenants[0].ID
		}, "AADSTS7002138", "case-sensitive"},
		{"unknown tenant", func(*emulator.World) string { return "0d0d0d0d-0000-4000-8000-000000000000" }, "AADSTS90002", "REPORT_CLOUD"},
		{"issuer is another tenant's", func(w *emulator.World) string {
			w.BridgeApp.FederatedCredentials[0].Issuer = "https://login.microsoftonline.com/" + w.Tenants[0].ID + "/v2.0"
			return w.Tenants[0].ID
		}, "AADSTS700211", "issuer"},
		{"audience is not the exchange's", func(w *emulator.World) string {
			w.BridgeApp.FederatedCredentials[0].Audiences = []string{"api://something-else"}
			return w.Tenants[0].ID
		}, "AADSTS700212", "api://AzureADTokenExchange"},
		{"no federated credential", func(w *emulator.World) string {
			w.BridgeApp.FederatedCredentials = nil
			return w.Tenants[0].ID
		}, "AADSTS70021", "federated credential"},
		{"service principal disabled", func(w *emulator.World) string {
			w.Tenants[0].ServicePrincipalDisabled = true
			return w.Tenants[0].ID
		}, "AADSTS7000112", "enable"},
		{"blocked by conditional access", func(w *emulator.World) string {
			w.Tenants[0].BlockedByConditionalAccess = true
			return w.Tenants[0].ID
		}, "AADSTS53003", "Conditional Access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			world := emulator.SampleWorld()
			tenant := tt.change(world)
			_, src := start(t, world)
			cred, err := src.For(tenant)
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}})
			err = src.Diagnose(tenant, err)
			var e *tenantauth.Error
			if !errors.As(err, &e) {
				t.Fatalf("Diagnose = %v (%T), want *tenantauth.Error", err, err)
			}
			if e.Code != tt.code || e.Cause == "" || e.Fix == "" || e.TraceID == "" || e.CorrelationID == "" {
				t.Errorf("Diagnose = %+v, want code %s with cause, fix, trace and correlation ids", e, tt.code)
			}
			if msg := e.Explain(); !strings.Contains(msg, tt.says) {
				t.Errorf("Explain() = %q, want it to say %q", msg, tt.says)
			}
			if strings.Contains(err.Error(), "eyJ") {
				t.Errorf("error holds a token: %v", err)
			}
		})
	}
}

func TestDiagnosePassesOtherErrors(t *testing.T) {
	src := tenantauth.New(nil, tenantauth.Options{})
	plain := errors.New("dial tcp: connection refused")
	if got := src.Diagnose("t", plain); got != plain {
		t.Errorf("Diagnose(network error) = %v, want it unchanged", got)
	}
	if got := src.Diagnose("t", nil); got != nil {
		t.Errorf("Diagnose(nil) = %v", got)
	}
}

// TestManagedIdentityTokenExpiresBetweenRuns checks that an exchange after
// the identity's token expired presents a fresh one: Entra would refuse the
// old one with AADSTS700024.
func TestManagedIdentityTokenExpiresBetweenRuns(t *testing.T) {
	world := emulator.SampleWorld()
	em, src := start(t, world)
	// The emulator's clock runs 57 minutes behind, so the identity token it
	// issues expires 3 minutes from now (real time).
	var offset atomic.Int64
	offset.Store(int64(-57 * time.Minute))
	em.Server.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }

	exchange := func(tenant string) error {
		cred, err := src.For(tenant)
		if err != nil {
			return err
		}
		_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}})
		return src.Diagnose(tenant, err)
	}
	if err := exchange(world.Tenants[0].ID); err != nil {
		t.Fatalf("first run: %v", err)
	}
	// An hour later by the emulator's clock: the first identity token has
	// expired there.
	offset.Store(int64(10 * time.Minute))
	if err := exchange(world.Tenants[1].ID); err != nil {
		t.Fatalf("second run, after the identity token expired: %v", err)
	}
	m := em.Server.Metrics()
	if m.MITokensIssued != 2 {
		t.Errorf("identity tokens issued = %d, want 2 (one per run: the first expired)", m.MITokensIssued)
	}
	for k := range m.TokenErrors {
		t.Errorf("token endpoint error %s", k)
	}
}

func TestConsentURLFollowsCloud(t *testing.T) {
	tests := []struct{ host, want string }{
		{"https://login.microsoftonline.com/", "https://login.microsoftonline.com/t1/adminconsent?client_id=app"},
		{"https://login.microsoftonline.us/", "https://login.microsoftonline.us/t1/adminconsent?client_id=app"},
		{"https://login.chinacloudapi.cn/", "https://login.chinacloudapi.cn/t1/adminconsent?client_id=app"},
	}
	for _, tt := range tests {
		src := tenantauth.New(nil, tenantauth.Options{BridgeAppClientID: "app", AuthorityHost: tt.host})
		if got := src.ConsentURL("t1"); got != tt.want {
			t.Errorf("ConsentURL on %s = %q, want %q", tt.host, got, tt.want)
		}
	}
}

// TestDiagnoseEveryCode checks the diagnosis of every AADSTS code the table
// knows, from an Entra v2.0 error body as the token endpoint sends it.
func TestDiagnoseEveryCode(t *testing.T) {
	src := tenantauth.New(nil, tenantauth.Options{BridgeAppClientID: "app", AuthorityHost: "https://login.microsoftonline.com/"})
	for _, code := range []int{700236, 70021, 700211, 700212, 7002121, 700213, 7002137, 7002138, 70025, 700016, 7000112, 90002, 53003, 700024, 700222, 700226, 700229, 50013, 500011} {
		body := fmt.Sprintf(`{"error":"invalid_client","error_description":"AADSTS%d: something. Trace ID: t","error_codes":[%d],"timestamp":"2026-11-22 01:00:00Z","trace_id":"trace-1","correlation_id":"corr-1"}`, code, code)
		resp := &http.Response{StatusCode: 401, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}
		err := src.Diagnose("t1", fmt.Errorf("wrapped: %w", &azidentity.AuthenticationFailedError{RawResponse: resp}))
		var e *tenantauth.Error
		if !errors.As(err, &e) {
			t.Fatalf("Diagnose(AADSTS%d) = %v, want *tenantauth.Error", code, err)
		}
		if e.Code != fmt.Sprintf("AADSTS%d", code) || e.Cause == "" || e.Fix == "" || e.TraceID != "trace-1" || e.CorrelationID != "corr-1" {
			t.Errorf("Diagnose(AADSTS%d) = %+v, want its code with a cause, a fix and the request ids", code, e)
		}
	}
	// An unknown code keeps Entra's own first sentence.
	body := `{"error":"invalid_request","error_description":"AADSTS999999: Something new happened. Trace ID: t","error_codes":[999999]}`
	resp := &http.Response{StatusCode: 400, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}
	var e *tenantauth.Error
	if err := src.Diagnose("t1", &azidentity.AuthenticationFailedError{RawResponse: resp}); !errors.As(err, &e) || e.Cause != "Something new happened" {
		t.Errorf("Diagnose(unknown code) = %v, want Entra's first sentence as the cause", err)
	}
}

// TestNewManagedIdentityRefusesSystemAssigned checks that an empty client
// id, which would have the identity endpoint serve the system-assigned
// identity, is refused before any request, saying why.
func TestNewManagedIdentityRefusesSystemAssigned(t *testing.T) {
	_, err := tenantauth.NewManagedIdentity("", azcore.ClientOptions{})
	if !errors.Is(err, tenantauth.ErrNoClientID) ||
		!strings.Contains(err.Error(), "Entra accepts only user-assigned managed identities as federated credentials") {
		t.Errorf("NewManagedIdentity(\"\") = %v, want ErrNoClientID saying Entra accepts only user-assigned identities", err)
	}
}

// TestManagedIdentityNamesItsClientID checks that the credential names the
// user-assigned identity in every request, so that a Function App that also
// has a system-assigned identity still presents the user-assigned one.
func TestManagedIdentityNamesItsClientID(t *testing.T) {
	world := emulator.SampleWorld()
	world.SystemAssignedIdentity = &emulator.ManagedIdentity{
		ClientID: "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", ObjectID: "8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"}
	em, src := start(t, world)
	mi, err := tenantauth.NewManagedIdentity(world.ManagedIdentity.ClientID, azcore.ClientOptions{Transport: em.Client()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mi.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"api://AzureADTokenExchange/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok.Token, claims); err != nil || claims["oid"] != world.ManagedIdentity.ObjectID {
		t.Errorf("identity token oid = %v (%v), want the user-assigned identity's %s", claims["oid"], err, world.ManagedIdentity.ObjectID)
	}
	cred, err := src.For(world.Tenants[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}}); err != nil {
		t.Errorf("exchange: %v", src.Diagnose(world.Tenants[0].ID, err))
	}
}

// TestFicFixFollowsCloud checks that the fix for a federated credential that
// matches nothing names the configured cloud's issuer and audience.
func TestFicFixFollowsCloud(t *testing.T) {
	tests := []struct{ host, audience, issuer string }{
		{"https://login.microsoftonline.com/", "api://AzureADTokenExchange", "https://login.microsoftonline.com/{home tenant id}/v2.0"},
		{"https://login.microsoftonline.us/", "api://AzureADTokenExchangeUSGov", "https://login.microsoftonline.us/{home tenant id}/v2.0"},
		{"https://login.chinacloudapi.cn/", "api://AzureADTokenExchangeChina", "https://login.chinacloudapi.cn/{home tenant id}/v2.0"},
	}
	for _, tt := range tests {
		for _, code := range []int{70021, 700211, 700212, 700213, 7002137, 7002138} {
			src := tenantauth.New(nil, tenantauth.Options{BridgeAppClientID: "app", AuthorityHost: tt.host, ExchangeAudience: tt.audience})
			body := fmt.Sprintf(`{"error":"invalid_client","error_description":"AADSTS%d: x","error_codes":[%d]}`, code, code)
			resp := &http.Response{StatusCode: 401, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}
			var e *tenantauth.Error
			if err := src.Diagnose("t1", &azidentity.AuthenticationFailedError{RawResponse: resp}); !errors.As(err, &e) {
				t.Fatalf("Diagnose(AADSTS%d) = %v, want *tenantauth.Error", code, err)
			}
			for _, want := range []string{"issuer to " + tt.issuer + ",", "audience to " + tt.audience} {
				if !strings.Contains(e.Fix, want) {
					t.Errorf("on %s, Diagnose(AADSTS%d).Fix = %q, want it to say %q", tt.host, code, e.Fix, want)
				}
			}
			for _, other := range tests {
				if other.host != tt.host && strings.Contains(e.Fix, other.host) {
					t.Errorf("on %s, Diagnose(AADSTS%d).Fix = %q names %s", tt.host, code, e.Fix, other.host)
				}
			}
		}
	}
}

// TestConsentURL: the admin lands on the bridge app's registered redirect
// URI after consenting, not on Entra's AADSTS900971.
func TestConsentURL(t *testing.T) {
	const tenant, app = "11111111-2222-4333-8444-555555555555", "3a7b9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d"
	base := "https://login.microsoftonline.us/" + tenant + "/adminconsent?client_id=" + app
	for redirect, want := range map[string]string{
		"https://portal.azure.us/": base + "&redirect_uri=https%3A%2F%2Fportal.azure.us%2F",
		"":                         base,
	} {
		src := tenantauth.New(nil, tenantauth.Options{BridgeAppClientID: app, AuthorityHost: "https://login.microsoftonline.us/", ConsentRedirectURI: redirect})
		if got := src.ConsentURL(tenant); got != want {
			t.Errorf("ConsentURL with redirect %q = %s, want %s", redirect, got, want)
		}
	}
}
