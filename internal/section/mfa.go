package section

import (
	"strings"
	"time"
)

// Registration is a row of the MFA registration sheet.
type Registration struct {
	UserPrincipalName string
	UserDisplayName   string
	// UserType is Member or Guest.
	UserType          string
	IsAdmin           *bool
	IsMfaRegistered   *bool
	IsMfaCapable      *bool
	IsPasswordless    *bool
	IsSsprRegistered  *bool
	MethodsRegistered []string
	Updated           time.Time
}

// AdminWithoutMFA is an administrator who has not registered for MFA.
func (r Registration) AdminWithoutMFA() bool {
	return r.IsAdmin != nil && *r.IsAdmin && r.IsMfaRegistered != nil && !*r.IsMfaRegistered
}

// adminWithoutMFA is AdminWithoutMFA for a cell: unknown (nil) when Graph
// did not say whether the user is an admin, or an admin's registration.
func (r Registration) adminWithoutMFA() any {
	if r.IsAdmin == nil || *r.IsAdmin && r.IsMfaRegistered == nil {
		return nil
	}
	return r.AdminWithoutMFA()
}

func (r Registration) Key() string { return strings.ToLower(r.UserPrincipalName) }

func (r Registration) Cells() []any {
	return []any{r.UserDisplayName, r.UserPrincipalName, r.UserType, optional(r.IsAdmin), optional(r.IsMfaRegistered), r.adminWithoutMFA(),
		optional(r.IsMfaCapable), optional(r.IsPasswordless), optional(r.IsSsprRegistered), strings.Join(r.MethodsRegistered, ", "), when(r.Updated)}
}

func init() {
	Register(Section{Name: "mfa", Title: "MFA registration", Sheet: "MFA registration", Order: 70,
		Permissions: []string{"AuditLog.Read.All"}, Premium: true,
		Columns: []Column{
			{Header: "User", Width: 28},
			{Header: "User principal name", Width: 40},
			{Header: "User type", Width: 10},
			{Header: "Admin", Kind: Bool},
			{Header: "MFA registered", Kind: Bool},
			{Header: "Admin without MFA", Kind: Bool, Flag: true},
			{Header: "MFA capable", Kind: Bool},
			{Header: "Passwordless capable", Kind: Bool},
			{Header: "SSPR registered", Kind: Bool},
			{Header: "Methods", Width: 40, Wrap: true},
			{Header: "Updated (UTC)", Kind: Time},
		},
		Decode: decode[Registration]})
}
