package emulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/microsoft/kiota-abstractions-go/serialization"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/devices"
	"github.com/microsoftgraph/msgraph-sdk-go/identity"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/reports"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
	"github.com/microsoftgraph/msgraph-sdk-go/security"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/subscribedskus"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/tenantreport/tenantreport/internal/emulator"
)

// all follows @odata.nextLink with the SDK's page iterator and returns every item and the number of pages.
func all[T any](t *testing.T, g *msgraphsdk.GraphServiceClient, first serialization.Parsable, err error,
	ctor serialization.ParsableFactory) ([]T, int) {
	t.Helper()
	if err != nil {
		t.Fatalf("first page: %v", err)
	}
	it, err := msgraphgocore.NewPageIterator[T](first, g.GetAdapter(), ctor)
	if err != nil {
		t.Fatalf("NewPageIterator: %v", err)
	}
	var out []T
	links := map[string]bool{} // each page but the last links to the next
	if err := it.Iterate(t.Context(), func(v T) bool {
		if l := it.GetOdataNextLink(); l != nil {
			links[*l] = true
		}
		out = append(out, v)
		return true
	}); err != nil {
		t.Fatalf("Iterate: %v", err)
	}
	return out, len(links) + 1
}

// TestSectionsThroughSDK reads every section of DESIGN.md §5 for Contoso with msgraph-sdk-go and compares what
// the SDK decoded with World.ExpectTenant.
func TestSectionsThroughSDK(t *testing.T) {
	w := emulator.SampleWorld()
	h := start(t, w)
	contoso := w.Tenants[0]
	want := w.ExpectTenant(contoso.ID)
	g := h.graph(h.credential(contoso.ID, nil), "127.0.0.1")
	ctx := t.Context()

	t.Run("tenant", func(t *testing.T) {
		doms, err := g.Domains().Get(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v := doms.GetValue(); len(v) != want.Domains || !*v[0].GetIsInitial() || !*v[0].GetIsDefault() {
			t.Errorf("domains = %d, want %d with the initial one default", len(v), want.Domains)
		}
	})
	t.Run("users and signin", func(t *testing.T) {
		top := int32(999) // over the signInActivity page size: Graph answers pages of 500
		resp, err := g.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{
			Select: []string{"id", "displayName", "userType", "accountEnabled", "signInActivity"}, Top: &top}})
		us, _ := all[models.Userable](t, g, resp, err, models.CreateUserCollectionResponseFromDiscriminatorValue)
		inactive, never := 0, 0
		cutoff := time.Now().AddDate(0, 0, -90)
		for _, u := range us {
			sa := u.GetSignInActivity()
			if sa == nil {
				t.Fatalf("user %s: no signInActivity", *u.GetId())
			}
			if u.GetMail() != nil {
				t.Fatalf("user %s: unselected mail present", *u.GetId())
			}
			switch last := sa.GetLastSignInDateTime(); {
			case last == nil:
				never++
				inactive++
			case last.Before(cutoff):
				inactive++
			}
		}
		if len(us) != want.Users || inactive != want.InactiveUsers || never != want.NeverSignedIn {
			t.Errorf("users %d, inactive %d, never %d; want %d, %d, %d", len(us), inactive, never, want.Users, want.InactiveUsers, want.NeverSignedIn)
		}
	})
	t.Run("licences", func(t *testing.T) {
		skus, err := g.SubscribedSkus().Get(ctx, &subscribedskus.SubscribedSkusRequestBuilderGetRequestConfiguration{
			QueryParameters: &subscribedskus.SubscribedSkusRequestBuilderGetQueryParameters{Select: []string{"skuPartNumber", "prepaidUnits", "consumedUnits", "servicePlans"}}})
		if err != nil {
			t.Fatal(err)
		}
		unused := 0
		for _, s := range skus.GetValue() {
			unused += int(*s.GetPrepaidUnits().GetEnabled() - *s.GetConsumedUnits())
		}
		if len(skus.GetValue()) != want.SubscribedSkus || unused != want.UnusedLicences {
			t.Errorf("skus %d, unused %d; want %d, %d", len(skus.GetValue()), unused, want.SubscribedSkus, want.UnusedLicences)
		}
	})
	t.Run("roles", func(t *testing.T) {
		resp, err := g.RoleManagement().Directory().RoleAssignments().Get(ctx, &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetRequestConfiguration{
			QueryParameters: &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters{Expand: []string{"principal"}}})
		as, _ := all[models.UnifiedRoleAssignmentable](t, g, resp, err, models.CreateUnifiedRoleAssignmentCollectionResponseFromDiscriminatorValue)
		defs, err := g.RoleManagement().Directory().RoleDefinitions().Get(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]string{}
		for _, d := range defs.GetValue() {
			names[*d.GetId()] = *d.GetDisplayName()
		}
		if len(as) != want.RoleAssignments || len(defs.GetValue()) != want.RoleDefinitions {
			t.Fatalf("assignments %d, definitions %d; want %d, %d", len(as), len(defs.GetValue()), want.RoleAssignments, want.RoleDefinitions)
		}
		for _, a := range as {
			u, ok := a.GetPrincipal().(models.Userable)
			if !ok || *u.GetId() != *a.GetPrincipalId() || u.GetUserPrincipalName() == nil || names[*a.GetRoleDefinitionId()] == "" {
				t.Errorf("assignment %s: principal %T, role %q", *a.GetId(), a.GetPrincipal(), names[*a.GetRoleDefinitionId()])
			}
		}
	})
	t.Run("mfa", func(t *testing.T) {
		resp, err := g.Reports().AuthenticationMethods().UserRegistrationDetails().Get(ctx, &reports.AuthenticationMethodsUserRegistrationDetailsRequestBuilderGetRequestConfiguration{})
		regs, pages := all[models.UserRegistrationDetailsable](t, g, resp, err, models.CreateUserRegistrationDetailsCollectionResponseFromDiscriminatorValue)
		registered, adminsWithout := 0, 0
		for _, r := range regs {
			if *r.GetIsMfaRegistered() {
				registered++
			} else if *r.GetIsAdmin() {
				adminsWithout++
			}
		}
		if len(regs) != want.Users || pages != 3 || registered != want.MFARegistered || adminsWithout != want.AdminsWithoutMFA {
			t.Errorf("registrations %d in %d pages, registered %d, admins without MFA %d; want %d in 3, %d, %d",
				len(regs), pages, registered, adminsWithout, want.Users, want.MFARegistered, want.AdminsWithoutMFA)
		}
	})
	t.Run("devices paged with select", func(t *testing.T) {
		top := int32(50)
		resp, err := g.Devices().Get(ctx, &devices.DevicesRequestBuilderGetRequestConfiguration{QueryParameters: &devices.DevicesRequestBuilderGetQueryParameters{
			Select: []string{"id", "displayName", "operatingSystem", "isCompliant", "approximateLastSignInDateTime"}, Top: &top}})
		ds, pages := all[models.Deviceable](t, g, resp, err, models.CreateDeviceCollectionResponseFromDiscriminatorValue)
		if len(ds) != want.Devices || pages != (want.Devices+49)/50 {
			t.Errorf("devices %d in %d pages, want %d in %d", len(ds), pages, want.Devices, (want.Devices+49)/50)
		}
		for _, d := range ds {
			if d.GetTrustType() != nil || d.GetOperatingSystem() == nil {
				t.Fatalf("device %s: trustType %v (unselected), operatingSystem %v", *d.GetId(), d.GetTrustType(), d.GetOperatingSystem())
			}
		}
	})
	t.Run("conditional access", func(t *testing.T) {
		ps, err := g.Identity().ConditionalAccess().Policies().Get(ctx, &identity.ConditionalAccessPoliciesRequestBuilderGetRequestConfiguration{})
		if err != nil {
			t.Fatal(err)
		}
		enabled := 0
		for _, p := range ps.GetValue() {
			if p.GetState().String() == "enabled" {
				enabled++
			}
			if p.GetConditions().GetApplications() == nil || len(p.GetGrantControls().GetBuiltInControls()) == 0 {
				t.Errorf("policy %s lacks conditions or grant controls", *p.GetDisplayName())
			}
		}
		if len(ps.GetValue()) != want.ConditionalAccessPolicies || enabled != want.EnabledPolicies {
			t.Errorf("policies %d (%d enabled), want %d (%d)", len(ps.GetValue()), enabled, want.ConditionalAccessPolicies, want.EnabledPolicies)
		}
	})
	t.Run("app credentials", func(t *testing.T) {
		sel := []string{"id", "appId", "displayName", "passwordCredentials", "keyCredentials"}
		resp, err := g.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Select: sel}})
		apps, _ := all[models.Applicationable](t, g, resp, err, models.CreateApplicationCollectionResponseFromDiscriminatorValue)
		sresp, err := g.ServicePrincipals().Get(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Select: sel}})
		sps, _ := all[models.ServicePrincipalable](t, g, sresp, err, models.CreateServicePrincipalCollectionResponseFromDiscriminatorValue)
		now := time.Now()
		creds, expired, expiring := 0, 0, 0
		count := func(end *time.Time) {
			creds++
			switch {
			case end.Before(now):
				expired++
			case end.Before(now.AddDate(0, 0, 30)):
				expiring++
			}
		}
		for _, a := range apps {
			for _, c := range a.GetPasswordCredentials() {
				count(c.GetEndDateTime())
			}
			for _, c := range a.GetKeyCredentials() {
				count(c.GetEndDateTime())
				if len(c.GetCustomKeyIdentifier()) != 20 {
					t.Errorf("certificate thumbprint %x", c.GetCustomKeyIdentifier())
				}
			}
		}
		if len(apps) != want.Applications || len(sps) != want.ServicePrincipals || creds != want.Credentials ||
			expired != want.ExpiredCredentials || expiring != want.ExpiringCredentials {
			t.Errorf("apps %d, sps %d, creds %d, expired %d, expiring %d; want %+v", len(apps), len(sps), creds, expired, expiring, want)
		}
	})
	t.Run("secure score", func(t *testing.T) {
		top := int32(1)
		ss, err := g.Security().SecureScores().Get(ctx, &security.SecureScoresRequestBuilderGetRequestConfiguration{QueryParameters: &security.SecureScoresRequestBuilderGetQueryParameters{Top: &top}})
		if err != nil {
			t.Fatal(err)
		}
		if v := ss.GetValue(); len(v) != 1 || *v[0].GetCurrentScore() != want.SecureScore || *v[0].GetMaxScore() != want.MaxSecureScore || ss.GetOdataNextLink() != nil {
			t.Errorf("secure scores = %d, want the latest (%v/%v) only", len(v), want.SecureScore, want.MaxSecureScore)
		}
	})
	if n := h.run.Server.Metrics().Requests["graph /security/securescores "+contoso.ID]; n != 1 {
		t.Errorf(`Requests["graph /security/securescores …"] = %d, want 1`, n)
	}
}

// TestSectionAuthorization checks the 403s: a missing permission for every section, and the non-premium 403
// for signInActivity and userRegistrationDetails, against World.ExpectSection.
func TestSectionAuthorization(t *testing.T) {
	w := emulator.SampleWorld()
	fab := &w.Tenants[1] // Fabrikam: no Entra ID P1/P2
	fab.Grants = []string{"User.Read.All", "AuditLog.Read.All"}
	h := start(t, w)
	g := h.graph(h.credential(fab.ID, nil), "127.0.0.1")
	ctx := t.Context()
	sel := []string{"id", "signInActivity"}
	calls := map[string]func() error{
		emulator.SectionTenant: func() error { _, err := g.Organization().Get(ctx, nil); return err },
		emulator.SectionUsers:  func() error { _, err := g.Users().Get(ctx, nil); return err },
		emulator.SectionSignIn: func() error {
			_, err := g.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: sel}})
			return err
		},
		emulator.SectionLicences: func() error { _, err := g.SubscribedSkus().Get(ctx, nil); return err },
		emulator.SectionRoles:    func() error { _, err := g.RoleManagement().Directory().RoleAssignments().Get(ctx, nil); return err },
		emulator.SectionMFA: func() error {
			_, err := g.Reports().AuthenticationMethods().UserRegistrationDetails().Get(ctx, nil)
			return err
		},
		emulator.SectionGuests:            func() error { _, err := g.Users().Get(ctx, nil); return err },
		emulator.SectionDevices:           func() error { _, err := g.Devices().Get(ctx, nil); return err },
		emulator.SectionConditionalAccess: func() error { _, err := g.Identity().ConditionalAccess().Policies().Get(ctx, nil); return err },
		emulator.SectionAppCredentials:    func() error { _, err := g.Applications().Get(ctx, nil); return err },
		emulator.SectionSecureScore:       func() error { _, err := g.Security().SecureScores().Get(ctx, nil); return err },
	}
	for _, section := range emulator.Sections() {
		t.Run(section, func(t *testing.T) {
			exp := w.ExpectSection(fab.ID, section)
			err := calls[section]()
			switch exp.NotAvailable {
			case "":
				if err != nil {
					t.Errorf("%s: %v, want success (ExpectSection %+v)", section, err, exp)
				}
			case "needs Entra ID P1/P2":
				if status, code := odataError(t, err); status != 403 || code != "Authentication_RequestFromNonPremiumTenantOrB2CTenant" {
					t.Errorf("%s = %d %s, want 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant", section, status, code)
				}
			default:
				if status, code := odataError(t, err); status != 403 || code != "Authorization_RequestDenied" {
					t.Errorf("%s = %d %s, want 403 Authorization_RequestDenied (%s)", section, status, code, exp.NotAvailable)
				}
			}
		})
	}
	if got := w.ExpectSection(fab.ID, emulator.SectionSignIn).NotAvailable; got != "needs Entra ID P1/P2" {
		t.Errorf("ExpectSection(Fabrikam, signin) = %q", got)
	}
	if got := w.ExpectSection(fab.ID, emulator.SectionDevices).NotAvailable; got != "permission Device.Read.All not granted" {
		t.Errorf("ExpectSection(Fabrikam, devices) = %q", got)
	}
	if got := w.ExpectSection(w.Tenants[2].ID, emulator.SectionUsers).NotAvailable; got != "token exchange fails with AADSTS700016" {
		t.Errorf("ExpectSection(Northwind, users) = %q", got)
	}
}

// TestQueryLimits checks $top limits and options a collection does not take, through the SDK.
func TestQueryLimits(t *testing.T) {
	w := emulator.SampleWorld()
	h := start(t, w)
	g := h.graph(h.credential(w.Tenants[0].ID, nil), "127.0.0.1")
	big, one := int32(1000), int32(1)
	for name, call := range map[string]func(context.Context) error{
		"devices $top=1000": func(ctx context.Context) error {
			_, err := g.Devices().Get(ctx, &devices.DevicesRequestBuilderGetRequestConfiguration{QueryParameters: &devices.DevicesRequestBuilderGetQueryParameters{Top: &big}})
			return err
		},
		"subscribedSkus $top": func(ctx context.Context) error {
			_, err := g.SubscribedSkus().Get(ctx, &subscribedskus.SubscribedSkusRequestBuilderGetRequestConfiguration{QueryParameters: &subscribedskus.SubscribedSkusRequestBuilderGetQueryParameters{Top: &one}})
			return err
		},
		"users $expand": func(ctx context.Context) error {
			_, err := g.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Expand: []string{"manager"}}})
			return err
		},
	} {
		if status, _ := odataError(t, call(t.Context())); status != 400 {
			t.Errorf("%s: status %d, want 400", name, status)
		}
	}
}
