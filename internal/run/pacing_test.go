package run_test

import (
	"log/slog"
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
		rec, err := r.Run(t.Context(), run.Request{Trigger: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if m := s.Metrics(); m.TooManyRequests != 0 {
			t.Errorf("Graph throttled %d requests (%v), want none", m.TooManyRequests, m.Throttled)
		}
		predicted, actual := planned.Expected.Sub(rec.Started), rec.Collected.Sub(rec.Started)
		t.Logf("predicted %v (collection %v at best), collected in %v", predicted, planned.Predicted, actual)
		if d := (predicted - actual).Abs(); d > actual/20 {
			t.Errorf("predicted collection to end after %v; it ended after %v", predicted, actual)
		}
		_ = time.Second
	})
}
