package emulator_test

import (
	"testing"

	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/security"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/tenantreport/tenantreport/internal/emulator"
)

// TestRecordedWorld serves the shipped recorded tenant (worlds/recorded/contoso, Graph JSON files) through the SDK:
// the emulator pages what the files hold, applies $select, and passes through properties it does not model.
func TestRecordedWorld(t *testing.T) {
	w, err := emulator.OpenWorld("recorded")
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, w)
	tid := w.Tenants[0].ID
	g := h.graph(h.credential(tid, nil), "127.0.0.1")
	ctx := t.Context()

	top := int32(3)
	resp, err := g.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{
		Select: []string{"id", "displayName", "accountEnabled", "userType", "employeeHireDate"}, Top: &top}})
	us, pages := all[models.Userable](t, g, resp, err, models.CreateUserCollectionResponseFromDiscriminatorValue)
	var got emulator.Counts
	for _, u := range us {
		got.Users++
		if *u.GetAccountEnabled() {
			got.EnabledUsers++
		}
		if *u.GetUserType() == "Guest" {
			got.Guests++
		}
		if u.GetEmployeeHireDate() == nil || u.GetJobTitle() != nil {
			t.Errorf("user %s: employeeHireDate %v (recorded, selected), jobTitle %v (not selected)", *u.GetDisplayName(), u.GetEmployeeHireDate(), u.GetJobTitle())
		}
	}
	if want := w.Expect(tid); got != want || pages != 3 || *us[0].GetDisplayName() != "Adele Vance" || *us[7].GetDisplayName() != "Pat Partner" {
		t.Errorf("users %+v in %d pages, want %+v in 3 pages, in file order", got, pages, want)
	}
	orgs, err := g.Organization().Get(ctx, nil)
	if err != nil || *orgs.GetValue()[0].GetDisplayName() != "Contoso Recorded" || len(orgs.GetValue()[0].GetVerifiedDomains()) != 2 {
		t.Errorf("organization: %v", err)
	}
	apps, err := g.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{
		Select: []string{"id", "displayName", "passwordCredentials", "keyCredentials"}}})
	if err != nil || len(apps.GetValue()) != 1 || len(apps.GetValue()[0].GetPasswordCredentials()) != 1 || len(apps.GetValue()[0].GetKeyCredentials()) != 1 {
		t.Errorf("applications: %v", err)
	}
	one := int32(1)
	ss, err := g.Security().SecureScores().Get(ctx, &security.SecureScoresRequestBuilderGetRequestConfiguration{QueryParameters: &security.SecureScoresRequestBuilderGetQueryParameters{Top: &one}})
	e := w.ExpectTenant(tid)
	if err != nil || len(ss.GetValue()) != 1 || *ss.GetValue()[0].GetCurrentScore() != e.SecureScore || e.SecureScore != 55.5 {
		t.Errorf("secure score: %v, expect %v", err, e.SecureScore)
	}
	if e.Credentials != 2 || e.Admins != 2 || e.MFARegistered != 6 || e.UnusedLicences != 3 || !e.Premium {
		t.Errorf("ExpectTenant(recorded) = %+v", e)
	}
	// Collections the folder does not record are empty, not synthetic.
	if ds, err := g.Devices().Get(ctx, nil); err != nil || len(ds.GetValue()) != 2 {
		t.Errorf("devices: %v", err)
	}
}
