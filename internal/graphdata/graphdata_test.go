package graphdata_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/emulatortest"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
	"github.com/tenantreport/tenantreport/internal/tenantauth"
)

func collector(t *testing.T, world *emulator.World) (*emulator.Running, *graphdata.Collector) {
	t.Helper()
	// MSAL caches identity tokens process-wide by client id: an identity
	// of this world's own keeps counts and caches from leaking between
	// tests (and between -count runs).
	emulatortest.OwnIdentity(world)
	em, src := emulatortest.Start(t, world, world.ManagedIdentity.ClientID)
	return em, &graphdata.Collector{
		Sections:    []string{"tenant", "users"},
		Credentials: src,
		Endpoint:    em.URL,
		Scope:       emulatortest.GraphScope,
		Transport:   graphdata.NewTransport(em.Client().Transport, graphdata.DefaultPacing()),
	}
}

func TestCollectUsers(t *testing.T) {
	world := emulator.SampleWorld()
	em, c := collector(t, world)
	c.Sections = []string{"users"}
	fab := world.Tenants[1] // 1200 users: two pages of 999
	var got []section.User
	res, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: fab.ID}}, func(name string, row any) error {
		if name != "users" {
			t.Errorf("row of section %q, want users", name)
		}
		got = append(got, row.(section.User))
		return nil
	})
	if err != nil {
		t.Fatalf("Collect = %v", err)
	}
	want := world.Expect(fab.ID)
	if res.Users != want.Users || res.EnabledUsers != want.EnabledUsers || res.Guests != want.Guests || len(got) != want.Users {
		t.Errorf("Collect = %+v (%d rows), want %+v", res, len(got), want)
	}
	// Two pages of users, each carrying a bearer token the emulator
	// accepted (it answers 401 otherwise).
	if res.Requests != 2 || res.Throttled != 0 {
		t.Errorf("Requests, Throttled = %d, %d; want 2, 0", res.Requests, res.Throttled)
	}
	if m := em.Server.Metrics(); m.Requests["graph /users "+fab.ID] != 2 {
		t.Errorf("emulator saw %d /users requests, want 2 (metrics %v)", m.Requests["graph /users "+fab.ID], m.Requests)
	}
	seen := map[string]bool{}
	for _, u := range got {
		if u.ID == "" || u.UserPrincipalName == "" || u.Created.IsZero() || seen[u.ID] {
			t.Fatalf("user %+v: want id, UPN, created date, no duplicates across pages", u)
		}
		seen[u.ID] = true
	}
}

// TestCollectMissingPermission checks that a section whose permission was
// not granted is named as not available and never requested.
func TestCollectMissingPermission(t *testing.T) {
	world := emulator.SampleWorld()
	world.Tenants[0].Grants = []string{"Organization.Read.All", "Domain.Read.All"} // no User.Read.All
	em, c := collector(t, world)
	id := world.Tenants[0].ID
	res, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: id}}, func(string, any) error { return nil })
	if err != nil {
		t.Fatalf("Collect = %v, want the tenant to succeed without its users section", err)
	}
	want := []graphdata.SectionResult{
		{Section: "tenant", Status: graphdata.SectionOK},
		{Section: "users", Status: graphdata.SectionUnavailable, Reason: "permission User.Read.All not granted"},
	}
	if len(res.Sections) != 2 || res.Sections[0].Status != want[0].Status ||
		res.Sections[1].Status != want[1].Status || res.Sections[1].Reason != want[1].Reason {
		t.Errorf("Sections = %+v, want %+v", res.Sections, want)
	}
	if n := em.Server.Metrics().Requests["graph /users "+id]; n != 0 {
		t.Errorf("%d /users requests, want none: the missing permission is known from the token", n)
	}
}

func TestCollectDiagnosesExchange(t *testing.T) {
	world := emulator.SampleWorld()
	em, c := collector(t, world)
	nw := world.Tenants[2] // never consented
	_, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: nw.ID}}, func(string, any) error { return nil })
	var e *tenantauth.Error
	if !errors.As(err, &e) || e.Code != "AADSTS700016" {
		t.Errorf("Collect = %v, want a diagnosed AADSTS700016", err)
	}
	if n := em.Server.Metrics().Requests["graph /organization "+nw.ID]; n != 0 {
		t.Errorf("%d Graph requests after a failed exchange, want 0", n)
	}
}

// TestCollectStopsOnEmitError: rows that cannot be kept fail the tenant.
// Sections are read at once, so emit is called concurrently, and others
// may pass a row or a page more before they see the error.
func TestCollectStopsOnEmitError(t *testing.T) {
	world := emulator.SampleWorld()
	_, c := collector(t, world)
	stop := errors.New("disk full")
	var n atomic.Int64
	res, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: world.Tenants[1].ID}}, func(string, any) error {
		if n.Add(1) >= 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || len(res.Sections) != 0 {
		t.Errorf("Collect = %v with %d sections after %d rows, want the emit error and no section read", err, len(res.Sections), n.Load())
	}
}

// TestCollectTokenRequests checks the identity traffic of runs: one managed
// identity token and one exchange per tenant for the first run, none for a
// second run within the tokens' lifetime.
func TestCollectTokenRequests(t *testing.T) {
	world := emulator.SampleWorld()
	world.Tenants = world.Tenants[:2]
	em, c := collector(t, world)
	c.Sections = []string{"users"}
	for run := 1; run <= 2; run++ {
		for _, tn := range world.Tenants {
			res, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: tn.ID}}, func(string, any) error { return nil })
			if err != nil {
				t.Fatalf("run %d, %s: %v", run, tn.DisplayName, err)
			}
			// Graph requests are this run's: one page per 999 users.
			if want := (world.Expect(tn.ID).Users + 998) / 999; res.Requests != want {
				t.Errorf("run %d, %s: Requests = %d, want %d", run, tn.DisplayName, res.Requests, want)
			}
		}
		m := em.Server.Metrics()
		if m.MITokensIssued != 1 || m.TokensIssued != len(world.Tenants) {
			t.Errorf("after run %d: identity tokens %d, exchanges %d; want 1 and %d", run, m.MITokensIssued, m.TokensIssued, len(world.Tenants))
		}
	}
}

// TestNextLinkToAnotherHostIsNotFollowed: a Graph page whose
// @odata.nextLink points at another host (here another port of the same
// address, which the SDK's host check lets a token through to) fails its
// section, and that host receives no request at all, with or without a
// token.
func TestNextLinkToAnotherHostIsNotFollowed(t *testing.T) {
	world := emulator.SampleWorld()
	emulatortest.OwnIdentity(world)
	_, src := emulatortest.Start(t, world, world.ManagedIdentity.ClientID)
	var (
		mu   sync.Mutex
		seen []string // what reached the other host
	)
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s (with a token: %v)", r.URL, r.Header.Get("Authorization") != ""))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"value":[]}`)
	}))
	defer other.Close()
	graph := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"value":[{"id":"o1","displayName":"Contoso"}],"@odata.nextLink":%q}`, other.URL+"/v1.0/organization?$skiptoken=x")
	}))
	defer graph.Close()
	c := &graphdata.Collector{
		Sections:    []string{"tenant"},
		Credentials: src,
		Endpoint:    graph.URL,
		Scope:       emulatortest.GraphScope,
		Transport:   graphdata.NewTransport(graph.Client().Transport, graphdata.DefaultPacing()),
	}
	res, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: world.Tenants[0].ID}}, func(string, any) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	sr, _ := res.Section("tenant")
	if sr.Status != graphdata.SectionFailed || !strings.Contains(sr.Reason, "not at Graph") {
		t.Errorf("tenant section %s: %q; want failed, the next page not followed", sr.Status, sr.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 0 {
		t.Errorf("the other host received %q", seen)
	}
}
