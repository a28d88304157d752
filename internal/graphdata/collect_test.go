package graphdata_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// roundTripperFunc adapts a func to http.RoundTripper.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// withQuirks asks the emulator for quirks (emulator.QuirksHeader) on every
// Graph request.
func withQuirks(next http.RoundTripper, quirks ...string) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set(emulator.QuirksHeader, strings.Join(quirks, ","))
		return next.RoundTrip(r)
	})
}

// TestCollectConcurrentCounts runs two Collects of the same tenant at once,
// through one shared Transport, and checks each counts its own requests,
// in total and per section.
func TestCollectConcurrentCounts(t *testing.T) {
	world := emulator.SampleWorld()
	em, c := collector(t, world)
	fab := world.Tenants[1] // 1,200 users: two pages
	// Both Collects hold at their first user until the other has reached
	// its own (or returned), so each one's second page goes over the wire
	// while the other is under way.
	var arrived sync.WaitGroup
	arrived.Add(2)
	type outcome struct {
		res graphdata.Result
		err error
	}
	out := make([]outcome, 2)
	var done sync.WaitGroup
	for i := range out {
		done.Go(func() {
			var once sync.Once
			arrive := func() { once.Do(arrived.Done) }
			defer arrive()
			out[i].res, out[i].err = c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: fab.ID}}, func(name string, _ any) error {
				if name == "users" {
					arrive()
					arrived.Wait()
				}
				return nil
			})
		})
	}
	done.Wait()
	for i, o := range out {
		if o.err != nil {
			t.Fatalf("Collect %d = %v", i, o.err)
		}
		// tenant: /organization and /domains; users: two pages.
		if o.res.Requests != 4 || o.res.Throttled != 0 {
			t.Errorf("Collect %d: Requests, Throttled = %d, %d; want 4, 0 (its own)", i, o.res.Requests, o.res.Throttled)
		}
		for _, s := range o.res.Sections {
			if s.Requests != 2 {
				t.Errorf("Collect %d: section %s: Requests = %d, want 2 (its own)", i, s.Section, s.Requests)
			}
		}
	}
	if m := em.Server.Metrics(); m.Requests["graph /users "+fab.ID] != 4 {
		t.Errorf("emulator saw %d /users requests, want 4", m.Requests["graph /users "+fab.ID])
	}
}

// TestCollectMFAWithoutQueryOptions checks that when Graph refuses $select
// and $top on userRegistrationDetails (which documents only $filter), the
// section is read again without them.
func TestCollectMFAWithoutQueryOptions(t *testing.T) {
	totals := map[bool]graphdata.Totals{}
	for _, strict := range []bool{false, true} {
		t.Run(map[bool]string{false: "accepted", true: "refused"}[strict], func(t *testing.T) {
			world := emulator.SampleWorld()
			em, c := collector(t, world)
			if strict {
				c.Transport = graphdata.NewTransport(withQuirks(em.Client().Transport, emulator.QuirkStrictQueryOptions), graphdata.DefaultPacing())
			}
			c.Sections = []string{"mfa"}
			contoso := world.Tenants[0] // 250 users
			rows := 0
			res, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: contoso.ID}}, func(string, any) error { rows++; return nil })
			if err != nil {
				t.Fatalf("Collect = %v", err)
			}
			want := world.ExpectSection(contoso.ID, emulator.SectionMFA)
			sr, _ := res.Section("mfa")
			if sr.Status != graphdata.SectionOK || sr.Rows != want.Rows || rows != want.Rows {
				t.Errorf("mfa = %+v with %d rows emitted, want ok with %d rows", sr, rows, want.Rows)
			}
			totals[strict] = res.Totals
			// Accepted: one page of 999. Refused: the 400, then Graph's
			// pages of 100.
			wantRequests := 1
			if strict {
				wantRequests = 1 + (contoso.Users+99)/100
			}
			route := "graph /reports/authenticationmethods/userregistrationdetails " + contoso.ID
			if n := em.Server.Metrics().Requests[route]; n != wantRequests || sr.Requests != wantRequests {
				t.Errorf("userRegistrationDetails requests: emulator %d, section %d; want %d", n, sr.Requests, wantRequests)
			}
		})
	}
	if a, r := totals[false], totals[true]; a.MFAMembers == 0 || a.MFAMembers != r.MFAMembers || a.MFARegistered != r.MFARegistered || a.AdminsWithoutMFA != r.AdminsWithoutMFA {
		t.Errorf("MFA totals with query options %+v, without %+v; want the same", a, r)
	}
}

// TestCollectPremiumCheckNeedsDirectoryRead checks the section's reason
// when Graph cannot do its premium check without Directory.Read.All.
func TestCollectPremiumCheckNeedsDirectoryRead(t *testing.T) {
	world := emulator.SampleWorld()
	contoso := &world.Tenants[0]
	for _, p := range emulator.KnownPermissions() {
		if p != "Directory.Read.All" {
			contoso.Grants = append(contoso.Grants, p)
		}
	}
	em, c := collector(t, world)
	c.Transport = graphdata.NewTransport(withQuirks(em.Client().Transport, emulator.QuirkPremiumCheckNeedsDirectoryRead), graphdata.DefaultPacing())
	c.Sections = []string{"users", "signin", "mfa"}
	res, err := c.Collect(t.Context(), graphdata.Job{Tenant: settings.Tenant{ID: contoso.ID}}, func(string, any) error { return nil })
	if err != nil {
		t.Fatalf("Collect = %v", err)
	}
	sr, _ := res.Section("mfa")
	if sr.Status != graphdata.SectionUnavailable || !strings.Contains(sr.Reason, "Authentication_ApplicationHasNoDirectoryReadAccess") ||
		!strings.Contains(sr.Reason, "fix: grant Directory.Read.All to the bridge app") {
		t.Errorf("mfa = %+v, want not available, naming the code and the fix", sr)
	}
	// Sign-in activity is not a reports endpoint: read as usual.
	if si, _ := res.Section("signin"); si.Status != graphdata.SectionOK {
		t.Errorf("signin = %+v, want ok", si)
	}
}
