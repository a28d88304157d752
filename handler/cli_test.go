package main

import (
	"strings"
	"testing"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/run"
)

// TestTableNotes: the summary table does not repeat a tenant's diagnosis,
// which its progress line printed in full; section notes stay.
func TestTableNotes(t *testing.T) {
	const diagnosis = "AADSTS700016: the bridge app is not in the tenant; fix: have its admin consent: https://login.microsoftonline.com/x/adminconsent?client_id=y"
	failed := run.TenantResult{Status: run.StatusFailed, Error: diagnosis}
	if got, want := tableNotes(failed), "AADSTS700016, see above"; got != want {
		t.Errorf("tableNotes(%q) = %q, want %q", diagnosis, got, want)
	}
	if !strings.Contains(outcome(failed), diagnosis) {
		t.Errorf("outcome(failed) = %q, want the whole diagnosis on the progress line", outcome(failed))
	}
	noCode := run.TenantResult{Status: run.StatusFailed, Error: "tenantauth: managed identity token: no response"}
	if got := tableNotes(noCode); got != "see above" {
		t.Errorf("tableNotes(%q) = %q, want %q", noCode.Error, got, "see above")
	}
	partial := run.TenantResult{Status: run.StatusPartial, Result: graphdata.Result{Sections: []graphdata.SectionResult{
		{Section: "users", Status: graphdata.SectionOK},
		{Section: "conditionalaccess", Status: graphdata.SectionUnavailable, Reason: "permission Policy.Read.All not granted"},
	}}}
	if got, want := tableNotes(partial), notes(partial); got != want || !strings.Contains(got, "Policy.Read.All") {
		t.Errorf("tableNotes(partial) = %q, want the section notes %q", got, want)
	}
}
