package run_test

import (
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/emulatortest"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// TestPredictedFinish runs the 50-tenant world (sizes from 12 to 8,000
// users, premium or not, faults and latency) in virtual time, where
// computing costs nothing and only Graph's budgets and latency count: the
// run's own prediction of when collection ends, made before it starts, is
// within 5% of when it did, and Graph throttled nothing.
func TestPredictedFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world, err := emulator.OpenWorld("msp50")
		if err != nil {
			t.Fatal(err)
		}
		rec, planned, s := virtualRun(t, world)
		if m := s.Metrics(); m.TooManyRequests != 0 {
			t.Errorf("Graph throttled %d requests (%v), want none", m.TooManyRequests, m.Throttled)
		}
		predicted, actual := planned.Expected.Sub(rec.Started), rec.Collected.Sub(rec.Started)
		t.Logf("predicted %v (collection %v at best), collected in %v", predicted, planned.Predicted, actual)
		if d := (predicted - actual).Abs(); d > actual/20 {
			t.Errorf("predicted collection to end after %v; it ended after %v", predicted, actual)
		}
	})
}

// TestLatencyBoundWorld runs 200 small tenants without Premium, where no
// budget binds and only latency counts, in virtual time: every section of
// every tenant is read at once, so collection takes a few latencies (the
// survey, then the longest section's requests one after another), not
// hundreds.
func TestLatencyBoundWorld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world, err := emulator.OpenWorld("latency200")
		if err != nil {
			t.Fatal(err)
		}
		rec, _, s := virtualRun(t, world)
		if m := s.Metrics(); m.TooManyRequests != 0 {
			t.Errorf("Graph throttled %d requests (%v), want none", m.TooManyRequests, m.Throttled)
		}
		actual := rec.Collected.Sub(rec.Started)
		t.Logf("collected in %v", actual)
		// The survey, then the longest sections (two requests one after
		// another): three latencies, each among the slowest of 2,400 draws
		// (the world's p99 is 400 ms), so 1.3–1.7 s as the draws fall.
		// Thirty-two tenants at a time would take seven rounds of that
		// tail, tenant after tenant about five minutes.
		if actual > 2500*time.Millisecond {
			t.Errorf("200 small tenants took %v to collect, want under 2.5 s", actual)
		}
	})
}

// virtualRun runs a report of world on the in-memory emulator, paced at
// the world's time scale, and returns its record, the run as it was when
// planned, and the emulator.
func virtualRun(t *testing.T, world *emulator.World, options ...func(*run.Runner)) (run.Record, run.Info, *emulator.Server) {
	t.Helper()
	{
		s, creds := emulatortest.InMemory(t, world)
		var tenants []settings.Tenant
		for _, tn := range world.Tenants {
			tenants = append(tenants, settings.Tenant{ID: tn.ID, DisplayName: tn.DisplayName})
		}
		store, err := reportstore.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		pacing := graphdata.DefaultPacing()
		pacing.TimeScale = world.TimeScale
		var planned run.Info
		r := &run.Runner{
			Tenants: tenants,
			Collector: &graphdata.Collector{Credentials: creds, Endpoint: emulator.InMemoryURL, Scope: emulatortest.GraphScope,
				Transport: graphdata.NewTransport(s.Transport(), pacing), Sections: settings.AllSections()},
			Store: store, Sections: settings.AllSections(), Parallel: settings.DefaultConcurrency,
			Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})),
			Progress: func(info run.Info, finished *run.TenantResult) {
				if finished == nil {
					planned = info
				}
			},
		}
		for _, o := range options {
			o(r)
		}
		rec, err := r.Run(t.Context(), run.Request{Trigger: "test"})
		if err != nil && rec.Report == "" {
			t.Fatal(err)
		}
		return rec, planned, s
	}
}

// TestTenantTimeLimit: one tenant's Graph is slow (every answer takes a
// minute); with a ten-minute limit per tenant, that tenant is reported as
// timed out with the sections it did read, and the others complete.
func TestTenantTimeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world := emulator.SampleWorld()
		world.Tenants = world.Tenants[:2] // Contoso and Fabrikam
		slow := &world.Tenants[1]
		slow.Users = 20_000 // 21 pages of users, one after another: 21 minutes
		slow.Latency = &emulator.Latency{Fixed: emulator.Duration(time.Minute)}
		rec, _, _ := virtualRun(t, world, func(r *run.Runner) { r.TenantTimeout = 10 * time.Minute })
		if took := rec.Collected.Sub(rec.Started); took > 11*time.Minute {
			t.Errorf("collection took %v with a 10 minute limit per tenant", took)
		}
		for _, tr := range rec.Tenants {
			switch tr.TenantID {
			case slow.ID:
				users, _ := tr.Section("users")
				domains, _ := tr.Section("tenant")
				if tr.Status != run.StatusPartial || users.Status != graphdata.SectionFailed || !strings.Contains(users.Reason, "time limit of 10m0s") || domains.Status != graphdata.SectionOK {
					t.Errorf("slow tenant: %s, users %s %q, domains %s; want partial, users timed out, domains read", tr.Status, users.Status, users.Reason, domains.Status)
				}
			default:
				if tr.Status != run.StatusOK {
					t.Errorf("%s: %s, want ok", tr.DisplayName, tr.Status)
				}
			}
		}
		if rec.State != run.StatePartial || rec.Report == "" {
			t.Errorf("run %s, report %q; want partial with a report", rec.State, rec.Report)
		}
	})
}
