package run_test

import (
	"strings"
	"testing"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// TestTokenEndpointOutage: Entra answers one tenant's token requests 503
// AADSTS90033, as in an outage. That tenant is failed with the diagnosis
// (after azidentity's own retries), the run's other tenants are read as
// usual, and the workbook's Run status says why.
func TestTokenEndpointOutage(t *testing.T) {
	world := emulator.SampleWorld()
	world.Tenants[0].TokenOutage = true
	down := world.Tenants[0]
	rec, books := emulatedRun(t, world, settings.AllSections())

	if rec.State != run.StatePartial {
		t.Errorf("state = %s, want %s: one tenant of %d failed", rec.State, run.StatePartial, len(rec.Tenants))
	}
	for _, tr := range rec.Tenants {
		// The sample world has a tenant that never consented: it fails as
		// it always does.
		want := world.ExpectTenant(tr.TenantID).Exchange
		switch failed := tr.Status == run.StatusFailed; {
		case want == "AADSTS90033":
			if !failed || !strings.Contains(tr.Error, "AADSTS90033") || !strings.Contains(tr.Error, "temporarily unavailable") {
				t.Errorf("tenant %s: %s %q, want failed with AADSTS90033 and its diagnosis", tr.DisplayName, tr.Status, tr.Error)
			}
		case failed != (want != "") || want != "" && !strings.Contains(tr.Error, want):
			t.Errorf("tenant %s: %s %q, want its exchange to end %q: only %s's token endpoint is down",
				tr.DisplayName, tr.Status, tr.Error, want, down.DisplayName)
		}
	}
	// The combined workbook and the down tenant's own say why it has no rows.
	for _, b := range books {
		if !b.holds(down.ID) {
			continue
		}
		var seen bool
		for _, row := range sheetRows(t, b.f, "Run status")[1:] {
			if strings.Contains(strings.Join(row, " "), down.DisplayName) && strings.Contains(strings.Join(row, " "), "AADSTS90033") {
				seen = true
			}
		}
		if !seen {
			t.Errorf("%s: Run status has no row for %s naming AADSTS90033", b.label, down.DisplayName)
		}
		users := countBy(sheetRows(t, b.f, "Users"), nil)
		if users[down.DisplayName] != 0 {
			t.Errorf("%s: Users has %d rows of %s, whose token was never issued", b.label, users[down.DisplayName], down.DisplayName)
		}
		if b.tenant == "" && len(users) == 0 {
			t.Error("combined Users is empty: the other tenants were not read")
		}
	}
}
