package section

import "strings"

// RoleAssignment is a row of the Admin roles sheet.
type RoleAssignment struct {
	Role           string
	RoleTemplateID string
	Privileged     bool
	// Scope is the directory scope: "Tenant-wide" for "/".
	Scope         string
	PrincipalType string
	PrincipalName string
	PrincipalUPN  string
	PrincipalID   string
	Guest         *bool
	// Disabled is a user or service principal whose account is disabled.
	Disabled *bool
}

// Flagged is an assignment to look at: a guest or a disabled account
// holding a role.
func (r RoleAssignment) Flagged() bool {
	return r.Guest != nil && *r.Guest || r.Disabled != nil && *r.Disabled
}

// needsReview is Flagged for a cell: unknown (nil) when neither flag is
// known to be set and one of them is not known at all.
func (r RoleAssignment) needsReview() any {
	if !r.Flagged() && (r.Guest == nil || r.Disabled == nil) {
		return nil
	}
	return r.Flagged()
}

func (r RoleAssignment) Key() string {
	return strings.ToLower(r.Role) + "\x00" + strings.ToLower(r.PrincipalName) + "\x00" + r.PrincipalID + "\x00" + r.Scope
}

func (r RoleAssignment) Cells() []any {
	return []any{r.Role, r.Privileged, r.PrincipalName, r.PrincipalUPN, r.PrincipalType, optional(r.Guest), optional(r.Disabled),
		r.needsReview(), r.Scope, r.RoleTemplateID, r.PrincipalID}
}

func init() {
	Register(Section{Name: "roles", Title: "Admin roles", Sheet: "Admin roles", Order: 60,
		Permissions: []string{"RoleManagement.Read.Directory"},
		Columns: []Column{
			{Header: "Role", Width: 32},
			{Header: "Privileged", Kind: Bool},
			{Header: "Principal", Width: 28},
			{Header: "User principal name", Width: 40},
			{Header: "Principal type", Width: 16},
			{Header: "Guest", Kind: Bool},
			{Header: "Disabled", Kind: Bool},
			{Header: "Needs review", Kind: Bool, Flag: true},
			{Header: "Scope", Width: 14},
			{Header: "Role template ID", Width: 38},
			{Header: "Principal ID", Width: 38},
		},
		Decode: decode[RoleAssignment]})
}
