package graphdata_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/emulatortest"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// arrival is one request as the emulator received it.
type arrival struct {
	at         time.Time
	path       string
	signIn     bool
	status     int
	retryAfter string
}

// recorder sits between the Transport and the in-memory emulator and
// notes every request as it arrives there.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	log  []arrival
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	a := arrival{at: time.Now(), path: req.URL.Path, signIn: req.URL.Query().Has("$select") && strings.Contains(req.URL.Query().Get("$select"), "signInActivity")}
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		a.status, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	}
	r.mu.Lock()
	r.log = append(r.log, a)
	r.mu.Unlock()
	return resp, err
}

// manyTenants is the sample world's Contoso (premium, every permission)
// n times over, each with users users.
func manyTenants(n, users int) *emulator.World {
	w := emulator.SampleWorld()
	contoso := w.Tenants[0]
	w.Tenants = nil
	for i := range n {
		t := contoso
		t.ID = fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1)
		t.DisplayName = fmt.Sprintf("Contoso %02d", i+1)
		t.Seed = int64(1000 + i)
		t.Users, t.Devices, t.Apps = users, 60, 30
		t.Licenses = []emulator.License{{Sku: "SPE_E3", Enabled: users, Consumed: users - 10}}
		w.Tenants = append(w.Tenants, t)
	}
	return w
}

// pacedCollector reads every section through the in-memory emulator,
// paced at Graph's budgets, with a recorder below the pacing.
func pacedCollector(t *testing.T, w *emulator.World) (*emulator.Server, *graphdata.Collector, *recorder) {
	s, creds := emulatortest.InMemory(t, w)
	rec := &recorder{next: s.Transport()}
	return s, &graphdata.Collector{
		Sections:    settings.AllSections(),
		Credentials: creds,
		Endpoint:    emulator.InMemoryURL,
		Scope:       emulatortest.GraphScope,
		Transport:   graphdata.NewTransport(rec, graphdata.DefaultPacing()),
	}, rec
}

// TestPacedBurstAcrossTenants reads every section of 50 premium tenants
// at once against Graph's budgets: not one request is throttled, and the
// run ends within 5% of the bound that sign-in activity's 10 requests a
// minute across tenants sets.
func TestPacedBurstAcrossTenants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := manyTenants(50, 1200)
		s, c, _ := pacedCollector(t, w)
		start := time.Now()
		var wg sync.WaitGroup
		for _, tn := range w.Tenants {
			wg.Go(func() {
				res, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: tn.ID}, Size: graphdata.Size{Users: tn.Users}}, func(string, any) error { return nil })
				if err != nil {
					t.Errorf("%s: %v", tn.DisplayName, err)
					return
				}
				for _, sr := range res.Sections {
					if sr.Status != graphdata.SectionOK {
						t.Errorf("%s: section %s %s: %s", tn.DisplayName, sr.Section, sr.Status, sr.Reason)
					}
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		m := s.Metrics()
		if m.TooManyRequests != 0 {
			t.Errorf("%d requests throttled (%v), want none", m.TooManyRequests, m.Throttled)
		}
		// 3 pages of 500 users with signInActivity per tenant: 150 requests
		// at 10 a minute, the first 10 at once.
		bound := time.Duration(150-10) * 6 * time.Second
		if took < bound || took > bound*105/100 {
			t.Errorf("50 tenants took %v, want within 5%% above the bound of %v", took, bound)
		}
	})
}

// TestRetryAfterIsWaitedExactly: when Graph's budget is smaller than the
// model (here sign-in activity at 2 a minute), its 429 says how long to
// wait, and the request is sent again exactly that long after.
func TestRetryAfterIsWaitedExactly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := manyTenants(1, 2000)
		w.Throttling = &emulator.Throttling{Budgets: []emulator.Budget{
			{Family: emulator.FamilySignIn, Scope: emulator.ScopeTenant, Limit: 2, Window: emulator.Duration(time.Minute)},
		}}
		_, c, rec := pacedCollector(t, w)
		c.Sections = []string{"users", "signin"}
		res, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: w.Tenants[0].ID}, Size: graphdata.Size{Users: 2000}}, func(string, any) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if sr, _ := res.Section("signin"); sr.Status != graphdata.SectionOK || res.Throttled == 0 {
			t.Fatalf("signin %s, %d throttled; want ok after at least one 429", sr.Status, res.Throttled)
		}
		var signIns []arrival
		for _, a := range rec.log {
			if a.signIn {
				signIns = append(signIns, a)
			}
		}
		for i, a := range signIns[:len(signIns)-1] {
			if a.status != http.StatusTooManyRequests {
				continue
			}
			secs, err := strconv.Atoi(a.retryAfter)
			if err != nil {
				t.Fatalf("429 without a Retry-After of seconds: %q", a.retryAfter)
			}
			if gap := signIns[i+1].at.Sub(a.at); gap != time.Duration(secs)*time.Second {
				t.Errorf("request %d: sent again %v after a 429 with Retry-After %s", i+1, gap, a.retryAfter)
			}
		}
	})
}

// TestConditionalAccessPacedPerTenant: Conditional Access allows one
// request a second per tenant and answers a 429 without Retry-After;
// twenty requests at once for one tenant go out a second apart and none
// is throttled, while another tenant's are not held back.
func TestConditionalAccessPacedPerTenant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := manyTenants(2, 30)
		s, c, rec := pacedCollector(t, w)
		c.Sections = []string{"conditionalaccess"}
		start := time.Now()
		var wg sync.WaitGroup
		for i := range 20 {
			tn := w.Tenants[i%2]
			wg.Go(func() {
				if _, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: tn.ID}, Size: graphdata.Size{Users: tn.Users}}, func(string, any) error { return nil }); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if m := s.Metrics(); m.TooManyRequests != 0 {
			t.Errorf("%d requests throttled, want none", m.TooManyRequests)
		}
		var at []time.Time
		for _, a := range rec.log {
			if strings.Contains(a.path, "conditionalAccess") {
				at = append(at, a.at)
			}
		}
		if len(at) != 20 {
			t.Fatalf("%d Conditional Access requests, want 20", len(at))
		}
		// Ten per tenant at one a second, side by side: 9 s and a margin.
		if took := time.Since(start); took < 9*time.Second || took > 9500*time.Millisecond {
			t.Errorf("twenty requests over two tenants took %v, want 9 s", took)
		}
	})
}

// TestGraphFaultsAreRetried: a tenant whose Graph answers 5xx, drops
// connections and cuts bodies short, a tenth of the time each, is still
// read in full: every section ok, every row there, the retries counted.
// Another tenant, whose Graph is out, fails its sections with Graph's
// answer after a bounded number of attempts, and does not hold up the
// first. A third, whose outage passes after 25 s, is read in full.
func TestGraphFaultsAreRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := manyTenants(3, 1200)
		w.Tenants[0].Faults = &emulator.Faults{ServerErrors: 0.1, Resets: 0.1, Malformed: 0.1}
		w.Tenants[1].Faults = &emulator.Faults{Outage: true}
		w.Tenants[2].Faults = &emulator.Faults{OutageFor: emulator.Duration(25 * time.Second)}
		s, c, _ := pacedCollector(t, w)
		flaky, out, passing := w.Tenants[0], w.Tenants[1], w.Tenants[2]
		rows := map[string]int{}
		var mu sync.Mutex
		res, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: flaky.ID}, Size: graphdata.Size{Users: flaky.Users}}, func(name string, _ any) error {
			mu.Lock()
			defer mu.Unlock()
			rows[name]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, sr := range res.Sections {
			if sr.Status != graphdata.SectionOK {
				t.Errorf("flaky tenant: section %s %s: %s", sr.Section, sr.Status, sr.Reason)
			}
		}
		if rows["users"] != flaky.Users || rows["devices"] != flaky.Devices {
			t.Errorf("flaky tenant: %d users, %d devices; want %d, %d", rows["users"], rows["devices"], flaky.Users, flaky.Devices)
		}
		m := s.Metrics()
		faults := m.Faults["5xx "+flaky.ID] + m.Faults["reset "+flaky.ID] + m.Faults["malformed "+flaky.ID]
		if faults == 0 || res.Retries == 0 {
			t.Errorf("%d faults injected, %d retries; want some of each", faults, res.Retries)
		}

		start := time.Now()
		res, err = c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: out.ID}, Size: graphdata.Size{Users: out.Users}}, func(string, any) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		for _, sr := range res.Sections {
			if sr.Status != graphdata.SectionFailed || !strings.Contains(sr.Reason, "503") {
				t.Errorf("tenant out: section %s %s: %q; want failed with Graph's 503", sr.Section, sr.Status, sr.Reason)
			}
		}
		// Four retries, each after the 503's Retry-After of 10 s, its
		// sections side by side.
		if took := time.Since(start); took < 40*time.Second || took > 45*time.Second {
			t.Errorf("a tenant whose Graph is out took %v to give up, want 40 s and its latency (4 retries × Retry-After 10 s)", took)
		}

		// An outage of 25 s passes within those retries: every section
		// is read, on the retry after the 503s of the first 25 s.
		start = time.Now()
		res, err = c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: passing.ID}, Size: graphdata.Size{Users: passing.Users}}, func(string, any) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		for _, sr := range res.Sections {
			if sr.Status != graphdata.SectionOK {
				t.Errorf("tenant whose outage passes: section %s %s: %s", sr.Section, sr.Status, sr.Reason)
			}
		}
		if took := time.Since(start); took < 30*time.Second || res.Retries == 0 {
			t.Errorf("a 25 s outage was read through in %v with %d retries; want 30 s (the third Retry-After) and retries", took, res.Retries)
		}
	})
}

// TestThrottleOfUnmodelledBudgetIsWaitedOut: Graph throttles secure
// scores across tenants (a budget the pacing does not model: it paces them
// per tenant) and says so with x-ms-throttle-scope Application/…. The
// request is sent again after the Retry-After, not at once: the section
// is read, throttled once, after the wait.
func TestThrottleOfUnmodelledBudgetIsWaitedOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := manyTenants(2, 50)
		w.Throttling = &emulator.Throttling{Budgets: []emulator.Budget{
			{Family: emulator.FamilySecureScore, Scope: emulator.ScopeApp, Limit: 1, Window: emulator.Duration(10 * time.Second)}}}
		_, c, _ := pacedCollector(t, w)
		for i, tn := range w.Tenants {
			start := time.Now()
			res, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: tn.ID}, Sections: []string{"securescore"},
				Size: graphdata.Size{Users: tn.Users}}, func(string, any) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			sr, _ := res.Section("securescore")
			took := time.Since(start)
			wantThrottled := i // the second tenant's request finds the budget spent
			if sr.Status != graphdata.SectionOK || sr.Throttled != wantThrottled || (i == 1 && took < 9*time.Second) {
				t.Errorf("tenant %d: secure score %s (%s), throttled %d times, after %v; want ok, throttled %d times, after the Retry-After",
					i+1, sr.Status, sr.Reason, sr.Throttled, took, wantThrottled)
			}
		}
	})
}
