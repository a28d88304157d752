package run

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/rss"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// benchCollector emits rows of every section for each tenant, shaped like
// the real ones, without Graph: the benchmark measures our pipeline
// (collector → spool → workbook → store), not the network.
func benchCollector(rowsPerTenant int) collectorFunc {
	created := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	return func(_ context.Context, t settings.Tenant, _ []string, emit func(string, any) error) (graphdata.Result, error) {
		res := graphdata.Result{}
		for _, s := range settings.AllSections() {
			res.Sections = append(res.Sections, graphdata.SectionResult{Section: s, Status: graphdata.SectionOK})
		}
		yes, no := true, false
		for i := range rowsPerTenant {
			var name string
			var row any
			switch p := i % 100; {
			case p < 40:
				u := section.User{ID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), DisplayName: fmt.Sprintf("User %d", i),
					UserPrincipalName: fmt.Sprintf("user%d@%s.example", i, t.ID[:8]), Mail: fmt.Sprintf("user%d@example.com", i),
					UserType: "Member", AccountEnabled: &yes, Created: created, LastSignIn: created, SignInKnown: true,
					JobTitle: "Engineer", Department: "R&D"}
				if i%10 == 0 {
					u.AccountEnabled = &no
				}
				name, row = "users", u
				if p < 8 {
					u.UserType = "Guest"
					name, row = "guests", u
				}
			case p < 65:
				name, row = "mfa", section.Registration{UserPrincipalName: fmt.Sprintf("user%d@example.com", i),
					UserDisplayName: fmt.Sprintf("User %d", i), UserType: "Member", IsAdmin: ptr(p == 64), IsMfaRegistered: ptr(p%3 != 0),
					MethodsRegistered: []string{"microsoftAuthenticatorPush", "mobilePhone"}}
			case p < 85:
				name, row = "devices", section.Device{ID: fmt.Sprint(i), DisplayName: fmt.Sprintf("PC-%d", i),
					OperatingSystem: "Windows", OperatingSystemVersion: "10.0.22631", AccountEnabled: &yes, LastSignIn: created, Registered: created, TrustType: "AzureAd", IsCompliant: &yes}
			case p < 91:
				name, row = "appcredentials", section.AppCredential{ObjectType: "Application", DisplayName: fmt.Sprintf("App %d", i),
					AppID: fmt.Sprint(i), CredentialType: "Secret", Start: created, End: created.AddDate(2, 0, 0), DaysToExpiry: 100}
			case p < 95:
				name, row = "roles", section.RoleAssignment{Role: "Global Administrator", Privileged: true,
					PrincipalName: fmt.Sprintf("User %d", i), PrincipalType: "user"}
			case p < 97:
				name, row = "licences", section.Licence{SkuPartNumber: "SPE_E3", SkuID: fmt.Sprint(i), CapabilityStatus: "Enabled", Consumed: 10}
			case p < 99:
				name, row = "conditionalaccess", section.Policy{DisplayName: fmt.Sprintf("Policy %d", i), State: "enabled", Created: created}
			default:
				name, row = "tenant", section.Domain{Name: fmt.Sprintf("d%d.example", i), IsVerified: &yes}
			}
			if err := emit(name, row); err != nil {
				return res, err
			}
		}
		return res, nil
	}
}

// BenchmarkRun writes a report of 100 tenants through the whole pipeline:
// rows spooled per tenant and section, read back into the combined workbook
// and into each tenant's own (as deployed: REPORT_TENANT_WORKBOOKS is on
// by default), and stored in a local directory. Peak RSS must not grow with
// the rows. The -combined-only runs write the combined workbook alone, for
// the time the tenants' own add (assemble-s: from the last tenant collected
// to the run's end).
//
//	go test -run '^$' -bench BenchmarkRun -benchtime 1x ./internal/run/
func BenchmarkRun(b *testing.B) {
	const tenantCount = 100
	for _, size := range []struct {
		name        string
		rows        int
		combinedOne bool
	}{{"100k", 100_000, false}, {"1M", 1_000_000, false}, {"100k-combined-only", 100_000, true}, {"1M-combined-only", 1_000_000, true}} {
		b.Run(size.name, func(b *testing.B) {
			var tenants []settings.Tenant
			for i := range tenantCount {
				tenants = append(tenants, settings.Tenant{ID: fmt.Sprintf("%08d-1111-4111-8111-111111111111", i), DisplayName: fmt.Sprintf("Tenant %03d", i)})
			}
			store, err := reportstore.NewDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			r := &Runner{Tenants: tenants, Collector: benchCollector(size.rows / tenantCount), Store: store,
				Sections: settings.AllSections(), Parallel: 8, SpoolDir: b.TempDir(), TenantWorkbooks: !size.combinedOne,
				Logger: slog.New(slog.DiscardHandler)}
			reset := rss.ResetPeak()
			var (
				bytes, own int64
				assemble   time.Duration
			)
			b.ReportAllocs()
			for b.Loop() {
				rec, err := r.Run(b.Context(), Request{Trigger: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				if rec.State != StateSucceeded {
					b.Fatalf("run %s: %s", rec.State, rec.Reason)
				}
				bytes, own = rec.ReportBytes, 0
				for _, t := range rec.Tenants {
					own += t.ReportBytes
				}
				assemble += rec.Finished.Sub(rec.Collected)
			}
			b.ReportMetric(float64(size.rows*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(bytes)/(1<<20), "xlsx-MiB")
			b.ReportMetric(float64(own)/(1<<20), "own-xlsx-MiB")
			b.ReportMetric(assemble.Seconds()/float64(b.N), "assemble-s")
			if peak, ok := rss.Peak(); ok {
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
				if !reset {
					b.Log("could not reset VmHWM: peak-RSS-MiB is the peak of the whole process so far")
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
