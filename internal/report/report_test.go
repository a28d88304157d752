package report

import (
	"testing"

	"github.com/tenantreport/tenantreport/internal/graphdata"
)

func TestNotes(t *testing.T) {
	tests := []struct {
		name     string
		err      string
		sections []graphdata.SectionResult
		want     string
	}{
		{"unreachable", "AADSTS700016: not consented", nil, "AADSTS700016: not consented"},
		{"all read", "", []graphdata.SectionResult{{Section: "users", Status: graphdata.SectionOK}}, ""},
		{"grouped by reason", "", []graphdata.SectionResult{
			{Section: "signin", Status: graphdata.SectionUnavailable, Reason: "needs Entra ID P1/P2"},
			{Section: "devices", Status: graphdata.SectionFailed, Reason: "HTTP 500"},
			{Section: "mfa", Status: graphdata.SectionUnavailable, Reason: "needs Entra ID P1/P2"},
			{Section: "conditionalaccess", Status: graphdata.SectionUnavailable, Reason: "permission Policy.Read.All not granted"},
		}, "failed: Devices (HTTP 500); not available: Sign-in activity, MFA registration (needs Entra ID P1/P2); " +
			"not available: Conditional access (permission Policy.Read.All not granted)"},
	}
	for _, tt := range tests {
		if got := Notes(tt.err, tt.sections); got != tt.want {
			t.Errorf("Notes(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestConsentURL(t *testing.T) {
	const u = "https://login.microsoftonline.com/t/adminconsent?client_id=a&redirect_uri=https%3A%2F%2Fportal.azure.com%2F"
	for in, want := range map[string]string{
		"AADSTS700016: not consented; fix: open " + u + " (trace id 1)": u,
		"see https://learn.microsoft.com/entra for more":                "",
		"no link here": "",
	} {
		if got := consentURL(in); got != want {
			t.Errorf("consentURL(%q) = %q, want %q", in, got, want)
		}
	}
}
