package directory

import (
	_ "embed"
	"errors"
	"strings"
	"sync"
)

//go:embed data/entra-roles.tsv
var roleTSV string

// roleHeader is the header line of data/entra-roles.tsv.
var roleHeader = []string{"templateId", "displayName", "privileged"}

// Role is a Microsoft Entra built-in role as Microsoft's reference page lists it.
type Role struct {
	TemplateID string // the role template id, a lower-case GUID
	Name       string // the display name, such as "Global Administrator"
	Privileged bool   // whether Microsoft marks the role with the PRIVILEGED label
}

// roleTable is the parsed role table.
type roleTable struct {
	date  string
	roles []Role          // in table order
	byID  map[string]Role // lower-cased template id → role
}

// roles parses the embedded table once. Malformed lines are skipped here; the
// tests fail on them.
var roles = sync.OnceValue(func() roleTable {
	t, _ := parseRoles(roleTSV)
	return t
})

// parseRoles parses a built-in role table. It returns every well-formed row
// and, joined, an error for each malformed line: a wrong field count, a
// template id that is not a GUID, an empty name, a privileged column other
// than "yes" or "no", or a repeated template id or name (the first row wins).
func parseRoles(data string) (roleTable, error) {
	const name = "entra-roles.tsv"
	date, rows, errs := parseTable(name, data, roleHeader)
	t := roleTable{date: date, byID: make(map[string]Role, len(rows))}
	names := make(map[string]bool, len(rows))
	for _, r := range rows {
		id, display, priv := strings.ToLower(r.fields[0]), r.fields[1], r.fields[2]
		switch {
		case !isGUID(id):
			errs = append(errs, errLine(name, r, "templateId %q is not a GUID", r.fields[0]))
			continue
		case display == "":
			errs = append(errs, errLine(name, r, "empty displayName"))
			continue
		case priv != "yes" && priv != "no":
			errs = append(errs, errLine(name, r, "privileged %q, want yes or no", priv))
			continue
		}
		if _, dup := t.byID[id]; dup {
			errs = append(errs, errLine(name, r, "duplicate templateId %s", id))
			continue
		}
		if names[display] {
			errs = append(errs, errLine(name, r, "duplicate displayName %q", display))
			continue
		}
		names[display] = true
		role := Role{TemplateID: id, Name: display, Privileged: priv == "yes"}
		t.byID[id] = role
		t.roles = append(t.roles, role)
	}
	return t, errors.Join(errs...)
}

// BuiltInRole returns the Microsoft Entra built-in role with the given
// template id (a GUID, in either case), and false when the id is not a
// built-in role in the table: a custom role, or a built-in role Microsoft
// added after [RolesTableDate]. BuiltInRole is safe for concurrent use.
func BuiltInRole(templateID string) (Role, bool) {
	r, ok := roles().byID[strings.ToLower(templateID)]
	return r, ok
}

// RolesTableDate returns the date, as YYYY-MM-DD, of the version of
// Microsoft's "Microsoft Entra built-in roles" page that the role table was
// taken from.
func RolesTableDate() string { return roles().date }
