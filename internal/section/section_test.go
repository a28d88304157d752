package section_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/tenantreport/tenantreport/internal/section"
)

// TestRegistry checks what every section must hold for the rest of the
// product to follow from it: a unique name, order and sheet, permissions,
// and a row type whose cells fill its columns and survive the spool.
func TestRegistry(t *testing.T) {
	all := section.All()
	if len(all) == 0 {
		t.Fatal("no section registered")
	}
	sheets := map[string]string{}
	for i, s := range all {
		if i > 0 && all[i-1].Order >= s.Order {
			t.Errorf("sections out of order: %s (%d) after %s (%d)", s.Name, s.Order, all[i-1].Name, all[i-1].Order)
		}
		if s.Name == "" || s.Title == "" || len(s.Permissions) == 0 {
			t.Errorf("section %+v: want a name, a title and permissions", s)
		}
		if !s.HasSheet() {
			if s.Decode != nil || len(s.Columns) != 0 {
				t.Errorf("section %s has no sheet but has columns or a decoder", s.Name)
			}
			continue
		}
		if other, dup := sheets[s.Sheet]; dup && !slices.Equal(all[slices.IndexFunc(all, func(x section.Section) bool { return x.Name == other })].Columns, s.Columns) {
			t.Errorf("sections %s and %s share sheet %q with different columns", other, s.Name, s.Sheet)
		}
		sheets[s.Sheet] = s.Name
		var headers []string
		for _, c := range s.Columns {
			if slices.Contains(headers, c.Header) || c.Header == "Tenant" || c.Header == "Tenant ID" {
				t.Errorf("section %s: column %q is not unique (Tenant and Tenant ID come first on every sheet)", s.Name, c.Header)
			}
			headers = append(headers, c.Header)
			if c.Flag && c.Kind != section.Bool {
				t.Errorf("section %s: flag column %q is not Bool", s.Name, c.Header)
			}
		}
		if s.Decode == nil {
			t.Errorf("section %s has a sheet but no decoder", s.Name)
			continue
		}
		// A zero row goes through the spool's JSON and fills every column.
		zero, err := s.Decode([]byte("{}"))
		if err != nil {
			t.Fatalf("section %s: Decode({}) = %v", s.Name, err)
		}
		b, err := json.Marshal(zero)
		if err != nil {
			t.Fatalf("section %s: %v", s.Name, err)
		}
		back, err := s.Decode(b)
		if err != nil || len(back.Cells()) != len(s.Columns) {
			t.Errorf("section %s: a spooled row has %d cells (%v), want %d, one per column", s.Name, len(back.Cells()), err, len(s.Columns))
		}
	}
}

func TestLookupAndNames(t *testing.T) {
	names := section.Names()
	for _, n := range names {
		if s, ok := section.Lookup(n); !ok || s.Name != n {
			t.Errorf("Lookup(%q) = %+v, %v", n, s, ok)
		}
	}
	if _, ok := section.Lookup("mailboxes"); ok {
		t.Error("Lookup(mailboxes) found a section")
	}
	names[0] = "changed"
	if section.Names()[0] == "changed" {
		t.Error("Names returned the registry's own slice")
	}
}
