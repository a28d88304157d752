package directory

import (
	"slices"
	"strings"
	"testing"
)

func TestRoleTable(t *testing.T) {
	tab, err := parseRoles(roleTSV)
	if err != nil {
		t.Fatalf("parseRoles(embedded) = %v", err)
	}
	// Every data line became a role: no template id or name is malformed or repeated.
	lines := strings.Count(strings.TrimSuffix(roleTSV, "\n"), "\n") - 1
	if len(tab.roles) != lines {
		t.Errorf("parsed %d roles, want %d (one per data line)", len(tab.roles), lines)
	}
	// The "All roles" table of the 2026-01-20 page lists 123 roles.
	if got, want := len(tab.roles), 123; got != want {
		t.Errorf("roles = %d, want %d", got, want)
	}
	for _, r := range tab.roles {
		if !isGUID(r.TemplateID) || r.TemplateID != strings.ToLower(r.TemplateID) {
			t.Errorf("role %q: template id %q is not a lower-case GUID", r.Name, r.TemplateID)
		}
	}
	if got, want := RolesTableDate(), "2026-01-20"; got != want {
		t.Errorf("RolesTableDate() = %q, want %q", got, want)
	}
}

// TestPrivilegedRoles states every role that the 2026-01-20 page labels
// PRIVILEGED. A refreshed table that changes the set fails here, so the
// change is read before it ships.
func TestPrivilegedRoles(t *testing.T) {
	want := []string{
		"Agent ID Administrator",
		"Application Administrator",
		"Application Developer",
		"Attribute Provisioning Administrator",
		"Attribute Provisioning Reader",
		"Authentication Administrator",
		"Authentication Extensibility Administrator",
		"B2C IEF Keyset Administrator",
		"Cloud Application Administrator",
		"Cloud Device Administrator",
		"Conditional Access Administrator",
		"Directory Writers",
		"Domain Name Administrator",
		"External Identity Provider Administrator",
		"Global Administrator",
		"Global Reader",
		"Helpdesk Administrator",
		"Hybrid Identity Administrator",
		"Intune Administrator",
		"Lifecycle Workflows Administrator",
		"Partner Tier1 Support",
		"Partner Tier2 Support",
		"Password Administrator",
		"Privileged Authentication Administrator",
		"Privileged Role Administrator",
		"Security Administrator",
		"Security Operator",
		"Security Reader",
		"User Administrator",
	}
	var got []string
	for _, r := range roles().roles {
		if r.Privileged {
			got = append(got, r.Name)
		}
	}
	slices.Sort(got)
	if len(got) != 29 || !slices.Equal(got, want) {
		t.Errorf("privileged roles (%d) = %q, want (%d) %q", len(got), got, len(want), want)
	}
}

func TestBuiltInRole(t *testing.T) {
	tests := []struct {
		id, name   string
		privileged bool
	}{
		{"62e90394-69f5-4237-9190-012177145e10", "Global Administrator", true},
		{"e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator", true},
		{"f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader", true},
		{"5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader", true},
		{"5f2222b1-57c3-48ba-8ad5-d4759f1fde6f", "Security Operator", true},
		{"7698a772-787b-4ac8-901f-60d6b08affd2", "Cloud Device Administrator", true},
		{"9360feb5-f418-4baa-8175-e2a00bac4301", "Directory Writers", true},
		{"8329153b-31d0-4727-b945-745eb3bc5f31", "Domain Name Administrator", true},
		{"be2f45a1-457d-42af-a067-6ec1fa63bc45", "External Identity Provider Administrator", true},
		{"cf1c38e5-3621-4004-a7cb-879624dced7c", "Application Developer", true},
		{"59d46f88-662b-457b-bceb-5c3809e5908f", "Lifecycle Workflows Administrator", true},
		{"aaf43236-0c0d-4d5f-883a-6955382ac081", "B2C IEF Keyset Administrator", true},
		{"25a516ed-2fa0-40ea-a2d0-12923a21473a", "Authentication Extensibility Administrator", true},
		{"ecb2c6bf-0ab6-418e-bd87-7986f8d63bbe", "Attribute Provisioning Administrator", true},
		{"422218e4-db15-4ef9-bbe0-8afb41546d79", "Attribute Provisioning Reader", true},
		{"4ba39ca4-527c-499a-b93d-d9b492c50246", "Partner Tier1 Support", true},
		{"e00e864a-17c5-4a4b-9c06-f5b95a8d5bd8", "Partner Tier2 Support", true},
		{"db506228-d27e-4b7d-95e5-295956d6615f", "Agent ID Administrator", true},
		{"29232cdf-9323-42fd-ade2-1d097af3e4de", "Exchange Administrator", false},
		{"f28a1f50-f6e7-4571-818b-6a12f2af6b6c", "SharePoint Administrator", false},
		{"88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers", false},
		{"62E90394-69F5-4237-9190-012177145E10", "Global Administrator", true}, // GUID in upper case
	}
	for _, tt := range tests {
		r, ok := BuiltInRole(tt.id)
		want := Role{TemplateID: strings.ToLower(tt.id), Name: tt.name, Privileged: tt.privileged}
		if !ok || r != want {
			t.Errorf("BuiltInRole(%q) = %+v, %v, want %+v, true", tt.id, r, ok, want)
		}
	}
	for _, id := range []string{"", "00000000-0000-0000-0000-000000000000", "not-a-guid",
		"10dae51f-b6af-4016-8d66-8c2a99b929b3"} { // Guest User: not in the "All roles" table
		if r, ok := BuiltInRole(id); ok {
			t.Errorf("BuiltInRole(%q) = %+v, true, want false", id, r)
		}
	}
}
