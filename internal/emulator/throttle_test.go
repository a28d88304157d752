package emulator_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/security"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/emulatortest"
)

// seen is one response the SDK received, below its retry middleware.
type seen struct {
	at     time.Time
	path   string
	status int
	header http.Header
}

// capture records every response between the SDK's middleware and the in-memory emulator.
type capture struct {
	next http.RoundTripper
	mu   sync.Mutex
	log  []seen
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		c.mu.Lock()
		c.log = append(c.log, seen{time.Now(), r.URL.Path, resp.StatusCode, resp.Header.Clone()})
		c.mu.Unlock()
	}
	return resp, err
}

func (c *capture) throttled() []seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []seen
	for _, s := range c.log {
		if s.status == http.StatusTooManyRequests {
			out = append(out, s)
		}
	}
	return out
}

// mem is the emulator as an in-memory handler with the real SDKs pointed at it; it works inside a synctest
// bubble, where every wait is virtual.
type mem struct {
	t     *testing.T
	w     *emulator.World
	s     *emulator.Server
	creds *emulatortest.Credentials
	cap   *capture
}

func newMem(t *testing.T, w *emulator.World) *mem {
	s, creds := emulatortest.InMemory(t, w)
	return &mem{t: t, w: w, s: s, creds: creds, cap: &capture{next: s.Transport()}}
}

// credential is the bridge app in tenantID, asserted by a managed-identity token fetched from the emulator's MI
// endpoint.
func (m *mem) credential(tenantID string) azcore.TokenCredential {
	m.t.Helper()
	cred, err := m.creds.For(tenantID)
	if err != nil {
		m.t.Fatal(err)
	}
	return cred
}

func (m *mem) graph(tenantID string) *msgraphsdk.GraphServiceClient {
	m.t.Helper()
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(m.credential(tenantID),
		[]string{graphScope}, []string{"emulator.invalid"})
	if err != nil {
		m.t.Fatal(err)
	}
	opts := msgraphsdk.GetDefaultClientOptions()
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(m.cap, msgraphgocore.GetDefaultMiddlewaresWithOptions(&opts)...)}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		m.t.Fatal(err)
	}
	adapter.SetBaseUrl(emulator.InMemoryURL + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter)
}

var (
	signInQuery = &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{
		Select: []string{"id", "signInActivity"}, Top: ptr(int32(500))}}
	keyCredQuery = &applications.ApplicationsRequestBuilderGetRequestConfiguration{QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{
		Select: []string{"id", "keyCredentials"}}}
	scoreQuery = &security.SecureScoresRequestBuilderGetRequestConfiguration{QueryParameters: &security.SecureScoresRequestBuilderGetQueryParameters{Top: ptr(int32(1))}}
)

func ptr[T any](v T) *T { return &v }

// contosoTwin is a second premium tenant with every permission, for budgets across tenants.
func contosoTwin(w *emulator.World) emulator.Tenant {
	t := w.Tenants[0]
	t.ID, t.DisplayName, t.Seed = "0c0c0c0c-0000-4000-8000-00000000c0c0", "Contoso Twin", 111
	return t
}

// TestThrottlingFamilies exceeds each family's budget through msgraph-sdk-go and checks the 429 Graph sends
// (status, Retry-After or its absence, x-ms-throttle-scope) and that the SDK's retry then succeeds.
func TestThrottlingFamilies(t *testing.T) {
	budget := func(family, scope string, limit float64, window time.Duration, conc int) emulator.Budget {
		return emulator.Budget{Family: family, Scope: scope, Limit: limit, Window: emulator.Duration(window), Concurrency: conc}
	}
	for _, tc := range []struct {
		name       string
		budgets    []emulator.Budget // overrides; nil = the documented defaults
		latency    time.Duration
		parallel   bool
		n          int
		call       func(ctx context.Context, g *msgraphsdk.GraphServiceClient, i int) error
		twin       bool // alternate Contoso and its twin
		scope      string
		retryAfter string // "" = header absent
		reason     string
	}{
		{name: "directory resource units per tenant", n: 4,
			budgets: []emulator.Budget{budget(emulator.FamilyDirectory, emulator.ScopeTenant, 10, 10*time.Second, 0)},
			call: func(ctx context.Context, g *msgraphsdk.GraphServiceClient, _ int) error {
				_, err := g.SubscribedSkus().Get(ctx, nil) // 3 resource units each
				return err
			}, scope: "Tenant_Application", retryAfter: "2", reason: "ResourceUnitLimitExceeded"},
		{name: "directory per app across tenants", n: 3, twin: true,
			budgets: []emulator.Budget{budget(emulator.FamilyDirectory, emulator.ScopeApp, 2, 20*time.Second, 0)},
			call: func(ctx context.Context, g *msgraphsdk.GraphServiceClient, _ int) error {
				_, err := g.Organization().Get(ctx, nil)
				return err
			}, scope: "Application", retryAfter: "10", reason: "ResourceUnitLimitExceeded"},
		{name: "signInActivity 10 per minute per tenant", n: 11,
			call: func(ctx context.Context, g *msgraphsdk.GraphServiceClient, _ int) error {
				_, err := g.Users().Get(ctx, signInQuery)
				return err
			}, scope: "Tenant_Application", retryAfter: "6", reason: "RequestLimitExceeded"},
		{name: "signInActivity 10 per minute across tenants", n: 11, twin: true,
			call: func(ctx context.Context, g *msgraphsdk.GraphServiceClient, _ int) error {
				_, err := g.Users().Get(ctx, signInQuery)
				return err
			}, scope: "Application", retryAfter: "6", reason: "RequestLimitExceeded"},
		{name: "reports 5 per 10 s", n: 6,
			call: func(ctx context.Context, g *msgraphsdk.GraphServiceClient, _ int) error {
				_, err := g.Reports().AuthenticationMethods().UserRegistrationDetails().Get(ctx, nil)
				return err
			}, scope: "Tenant_Application", retryAfter: "2", reason: "RequestLimitExceeded"},
		{name: "conditional access 1 per second without Retry-After", n: 2,
			call: func(ctx context.Context, g *msgraphsdk.GraphServiceClient, _ int) error {
				_, err := g.Identity().ConditionalAccess().Policies().Get(ctx, nil)
				return err
			}, scope: "Tenant_Application", retryAfter: "", reason: "RequestLimitExceeded"},
		{name: "keyCredentials per tenant", n: 3,
			budgets: []emulator.Budget{budget(emulator.FamilyKeyCredentials, emulator.ScopeTenant, 2, time.Minute, 0)},
			call: func(ctx context.Context, g *msgraphsdk.GraphServiceClient, _ int) error {
				_, err := g.Applications().Get(ctx, keyCredQuery)
				return err
			}, scope: "Tenant_Application", retryAfter: "30", reason: "RequestLimitExceeded"},
		{name: "secure score at most 4 in flight", n: 5, parallel: true, latency: time.Second,
			call: func(ctx context.Context, g *msgraphsdk.GraphServiceClient, _ int) error {
				_, err := g.Security().SecureScores().Get(ctx, scoreQuery)
				return err
			}, scope: "Tenant_Application", retryAfter: "1", reason: "ConcurrencyLimitExceeded"},
		{name: "global per app", n: 4,
			budgets: []emulator.Budget{budget(emulator.FamilyGlobal, emulator.ScopeApp, 3, 10*time.Second, 0)},
			call: func(ctx context.Context, g *msgraphsdk.GraphServiceClient, _ int) error {
				_, err := g.Domains().Get(ctx, nil)
				return err
			}, scope: "Application", retryAfter: "4", reason: "RequestLimitExceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := emulator.SampleWorld()
				w.Tenants = append(w.Tenants, contosoTwin(w))
				if tc.budgets != nil {
					w.Throttling = &emulator.Throttling{Budgets: tc.budgets}
				}
				if tc.latency > 0 {
					w.Latency = &emulator.Latency{Fixed: emulator.Duration(tc.latency)}
				}
				m := newMem(t, w)
				gs := []*msgraphsdk.GraphServiceClient{m.graph(w.Tenants[0].ID), m.graph(w.Tenants[3].ID)}
				pick := func(i int) *msgraphsdk.GraphServiceClient {
					if tc.twin {
						return gs[i%2]
					}
					return gs[0]
				}
				errs := make([]error, tc.n)
				var wg sync.WaitGroup
				for i := range tc.n {
					if tc.parallel {
						wg.Go(func() { errs[i] = tc.call(t.Context(), pick(i), i) })
					} else {
						errs[i] = tc.call(t.Context(), pick(i), i)
					}
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("request %d: %v (the SDK should have retried the 429 and succeeded)", i+1, err)
					}
				}
				th := m.cap.throttled()
				if len(th) == 0 {
					t.Fatalf("no 429 among %d requests", tc.n)
				}
				h := th[0].header
				if got := h.Get("Retry-After"); got != tc.retryAfter || (tc.retryAfter == "" && len(h.Values("Retry-After")) != 0) {
					t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
				}
				scope := strings.Split(h.Get("x-ms-throttle-scope"), "/")
				if len(scope) != 4 || scope[0] != tc.scope || scope[1] != "Read" || scope[2] != strings.ToLower(w.BridgeApp.ClientID) {
					t.Errorf("x-ms-throttle-scope = %q, want %s/Read/<app>/<tenant>", h.Get("x-ms-throttle-scope"), tc.scope)
				}
				if got := h.Get("x-ms-throttle-information"); got != tc.reason {
					t.Errorf("x-ms-throttle-information = %q, want %q", got, tc.reason)
				}
				met := m.s.Metrics()
				if met.TooManyRequests != len(th) {
					t.Errorf("Metrics.TooManyRequests = %d, want %d", met.TooManyRequests, len(th))
				}
			})
		})
	}
}

// TestTimeScaleCompressesWindows replays the signInActivity budget at a hundredth of real time: the 429 asks for
// 60 ms (in x-ms-retry-after-ms; Retry-After cannot say less than 1 s), and after 60 virtual ms the budget has a
// request again.
func TestTimeScaleCompressesWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := emulator.SampleWorld()
		w.TimeScale = 0.01
		m := newMem(t, w)
		g := m.graph(w.Tenants[0].ID)
		start := time.Now()
		for i := range 10 {
			if _, err := g.Users().Get(t.Context(), signInQuery); err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
		}
		// The 11th request, sent below the SDK so that its retry does not hide the 429.
		tok, err := m.credential(w.Tenants[0].ID).GetToken(t.Context(), tokenOptions())
		if err != nil {
			t.Fatal(err)
		}
		get := func() *http.Response {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, emulator.InMemoryURL+"/v1.0/users?$select=id,signInActivity&$top=500", nil)
			req.Header.Set("Authorization", "Bearer "+tok.Token)
			resp, err := m.s.Transport().RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		resp := get()
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || resp.Header.Get("x-ms-retry-after-ms") != "60" {
			t.Fatalf("11th request: %d Retry-After %q x-ms-retry-after-ms %q, want 429, 1, 60", resp.StatusCode,
				resp.Header.Get("Retry-After"), resp.Header.Get("x-ms-retry-after-ms"))
		}
		ms, _ := strconv.Atoi(resp.Header.Get("x-ms-retry-after-ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		if resp := get(); resp.StatusCode != 200 {
			t.Errorf("after %d ms: status %d, want 200", ms, resp.StatusCode)
		}
		if el := time.Since(start); el != 60*time.Millisecond {
			t.Errorf("virtual time elapsed %v, want 60ms", el)
		}
	})
}

// TestThrottlingDisabled: a world can turn every budget off.
func TestThrottlingDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := emulator.SampleWorld()
		w.Throttling = &emulator.Throttling{Disabled: true}
		m := newMem(t, w)
		g := m.graph(w.Tenants[0].ID)
		for i := range 20 {
			if _, err := g.Identity().ConditionalAccess().Policies().Get(t.Context(), nil); err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
		}
		if n := len(m.cap.throttled()); n != 0 {
			t.Errorf("%d 429s with throttling disabled", n)
		}
		if p := m.s.Metrics().PeakConcurrency[w.Tenants[0].ID]; p != 1 {
			t.Errorf("PeakConcurrency = %d, want 1 for sequential requests", p)
		}
	})
}

func tokenOptions() policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{graphScope}}
}
