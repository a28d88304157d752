package section

import (
	"strings"
	"time"
)

// Policy is a row of the Conditional access sheet.
type Policy struct {
	DisplayName string
	// State is as the Entra admin center words it: enabled, disabled,
	// report-only.
	State         string
	GrantControls []string
	// Targets are the users, groups and roles the policy includes, as
	// "All users", "3 users", "2 roles" …
	Targets        string
	ExcludedUsers  int
	ExcludedGroups int
	ExcludedRoles  int
	Created        time.Time
	Modified       time.Time
}

func (p Policy) Key() string { return strings.ToLower(p.DisplayName) }

func (p Policy) Cells() []any {
	return []any{p.DisplayName, p.State, strings.Join(p.GrantControls, ", "), p.Targets, p.ExcludedUsers, p.ExcludedGroups, p.ExcludedRoles,
		when(p.Created), when(p.Modified)}
}

func init() {
	Register(Section{Name: "conditionalaccess", Title: "Conditional access", Sheet: "Conditional access", Order: 90,
		Permissions: []string{"Policy.Read.All"},
		Columns: []Column{
			{Header: "Policy", Width: 40},
			{Header: "State", Width: 14},
			{Header: "Grant controls", Width: 30, Wrap: true},
			{Header: "Applies to", Width: 30, Wrap: true},
			{Header: "Excluded users", Kind: Int},
			{Header: "Excluded groups", Kind: Int},
			{Header: "Excluded roles", Kind: Int},
			{Header: "Created (UTC)", Kind: Time},
			{Header: "Modified (UTC)", Kind: Time},
		},
		Decode: decode[Policy]})
}
