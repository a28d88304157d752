package directory

import (
	"strings"
	"testing"
)

const (
	goodComment = "# test table (last updated 2025-01-02)\n"
	roleHead    = "templateId\tdisplayName\tprivileged\n"
	gaRow       = "62e90394-69f5-4237-9190-012177145e10\tGlobal Administrator\tyes\n"
)

// TestParseRolesMalformed checks that each kind of bad line is reported with
// its line number, and that the good rows survive it.
func TestParseRolesMalformed(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
		wantRoles           int
	}{
		{"good", goodComment + roleHead + gaRow, "", 1},
		{"no date", "# no date\n" + roleHead + gaRow, "line 1: no \"(last updated", 1},
		{"bad date", "# (last updated 2025-13-40)\n" + roleHead + gaRow, "line 1:", 1},
		{"no comment", roleHead + gaRow, "want a comment line", 0},
		{"bad header", goodComment + "id\tname\tprivileged\n" + gaRow, "line 2: header", 1},
		{"fields", goodComment + roleHead + "62e90394-69f5-4237-9190-012177145e10\tGlobal Administrator\n" + gaRow, "line 3: 2 fields, want 3", 1},
		{"not a guid", goodComment + roleHead + "62e90394\tX\tno\n" + gaRow, "line 3: templateId \"62e90394\" is not a GUID", 1},
		{"privileged", goodComment + roleHead + "e8611ab8-c189-46e8-94e1-60213ab1f814\tPRA\tYES\n" + gaRow, "line 3: privileged \"YES\"", 1},
		{"empty name", goodComment + roleHead + "e8611ab8-c189-46e8-94e1-60213ab1f814\t\tno\n" + gaRow, "line 3: empty displayName", 1},
		{"duplicate id", goodComment + roleHead + gaRow + strings.ToUpper(gaRow[:36]) + "\tOther\tno\n", "line 4: duplicate templateId", 1},
		{"duplicate name", goodComment + roleHead + gaRow + "e8611ab8-c189-46e8-94e1-60213ab1f814\tGlobal Administrator\tno\n", "line 4: duplicate displayName", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := parseRoles(tt.data)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("parseRoles(%q) error = %v, want %q", tt.data, err, tt.wantErr)
			}
			if len(tab.roles) != tt.wantRoles {
				t.Errorf("parseRoles(%q) kept %d roles, want %d", tt.data, len(tab.roles), tt.wantRoles)
			}
		})
	}
}

func TestParseSKUsMalformed(t *testing.T) {
	head := goodComment + "skuId\tskuPartNumber\tproductName\n"
	e3 := "6fd2c87f-b296-42f0-b197-1e91e994b900\tENTERPRISEPACK\tOffice 365 E3\n"
	tests := []struct {
		name, data, wantErr string
		wantRows            int
	}{
		{"good", head + e3, "", 1},
		{"not a guid", head + "6fd2c87f\tX\tY\n" + e3, "line 3: skuId \"6fd2c87f\" is not a GUID", 1},
		{"empty name", head + "06ebc4ee-1bb5-47dd-8120-11324bc54e06\tSPE_E5\t\n" + e3, "line 3: empty", 1},
		{"duplicate", head + e3 + e3, "line 4: duplicate skuId", 1},
		{"fields", head + "a\tb\tc\td\n" + e3, "line 3: 4 fields, want 3", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := parseSKUs(tt.data)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("parseSKUs(%q) error = %v, want %q", tt.data, err, tt.wantErr)
			}
			if tab.rows != tt.wantRows {
				t.Errorf("parseSKUs(%q) kept %d rows, want %d", tt.data, tab.rows, tt.wantRows)
			}
		})
	}
}

// FuzzParseRoles checks that the parser never panics and keeps only roles
// with a GUID template id, a name, and unique ids.
func FuzzParseRoles(f *testing.F) {
	f.Add(goodComment + roleHead + gaRow)
	f.Add(roleTSV)
	f.Add("")
	f.Fuzz(func(t *testing.T, data string) {
		tab, _ := parseRoles(data)
		seen := map[string]bool{}
		for _, r := range tab.roles {
			if !isGUID(r.TemplateID) || r.Name == "" || seen[r.TemplateID] {
				t.Fatalf("parseRoles kept bad or repeated role %+v", r)
			}
			seen[r.TemplateID] = true
		}
	})
}
