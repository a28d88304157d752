package directory

import (
	"strings"
	"testing"
)

func TestSKUTable(t *testing.T) {
	tab, err := parseSKUs(skuTSV)
	if err != nil {
		t.Fatalf("parseSKUs(embedded) = %v", err)
	}
	// Every data line became a row: no skuId is malformed or repeated.
	lines := strings.Count(strings.TrimSuffix(skuTSV, "\n"), "\n") - 1
	if tab.rows != lines {
		t.Errorf("parsed %d rows, want %d (one per data line)", tab.rows, lines)
	}
	if tab.rows <= 600 {
		t.Errorf("rows = %d, want > 600", tab.rows)
	}
	for id := range tab.byID {
		if !isGUID(id) {
			t.Errorf("skuId %q is not a GUID", id)
		}
	}
	if got, want := SKUTableDate(), "2025-10-29"; got != want {
		t.Errorf("SKUTableDate() = %q, want %q", got, want)
	}
}

func TestProductName(t *testing.T) {
	tests := []struct {
		skuID, part, want string
	}{
		{"6fd2c87f-b296-42f0-b197-1e91e994b900", "ENTERPRISEPACK", "Office 365 E3"},
		{"6FD2C87F-B296-42F0-B197-1E91E994B900", "", "Office 365 E3"},          // GUID in upper case
		{"06ebc4ee-1bb5-47dd-8120-11324bc54e06", "SPE_E5", "Microsoft 365 E5"}, // by skuId
		{"05e9a617-0261-4cee-bb44-138d3ef5d965", "SPE_E3", "Microsoft 365 E3"}, // by skuId
		{"00000000-0000-0000-0000-000000000000", "SPE_E5", "Microsoft 365 E5"}, // unknown skuId: by part number
		{"", "ENTERPRISEPACK", "Office 365 E3"},                                // no skuId: by part number
		{"", "enterprisepack", "Office 365 E3"},                                // part number in any case
		{"6fd2c87f-b296-42f0-b197-1e91e994b900", "SPE_E5", "Office 365 E3"},    // skuId wins
		{"00000000-0000-0000-0000-000000000000", "NOT_A_SKU", ""},              // unknown
		{"", "", ""},         // nothing to look up
		{"", "MCOPSTN5", ""}, // part number listed under two products
		{"54a152dc-90de-4996-93d2-bc47e670fc06", "MCOPSTN5", "Skype for Business PSTN Domestic Calling (120 Minutes)"},
		{"d43177b5-475b-4880-92d4-d54c27b5efbd", "MCOPSTN5", "Skype for Business PSTN Calling Domestic Small"},
	}
	for _, tt := range tests {
		if got := ProductName(tt.skuID, tt.part); got != tt.want {
			t.Errorf("ProductName(%q, %q) = %q, want %q", tt.skuID, tt.part, got, tt.want)
		}
	}
}
