package section

import (
	"strings"
	"time"
)

// User is a row of the Users and Guests sheets.
type User struct {
	ID                string
	DisplayName       string
	UserPrincipalName string
	Mail              string
	// UserType is Member or Guest.
	UserType          string
	AccountEnabled    *bool
	Created           time.Time
	ExternalUserState string
	JobTitle          string
	Department        string
	// LastSignIn and LastNonInteractiveSignIn are read with the signin
	// section only (SignInKnown).
	LastSignIn               time.Time
	LastNonInteractiveSignIn time.Time
	SignInKnown              bool
	// Inactive: no sign-in for 90 days (one that never signed in counts
	// from its creation); known with the sign-ins only.
	Inactive bool
}

// IsGuest reports whether the user is a guest (B2B) account.
func (u User) IsGuest() bool { return strings.EqualFold(u.UserType, "Guest") }

func (u User) Key() string { return strings.ToLower(u.UserPrincipalName) + "\x00" + u.ID }

func (u User) Cells() []any {
	var inactive any
	if u.SignInKnown {
		inactive = u.Inactive
	}
	return []any{u.DisplayName, u.UserPrincipalName, u.Mail, u.UserType, optional(u.AccountEnabled), when(u.Created),
		when(u.LastSignIn), when(u.LastNonInteractiveSignIn), inactive, u.ExternalUserState, u.JobTitle, u.Department, u.ID}
}

var userColumns = []Column{
	{Header: "Display name", Width: 28},
	{Header: "User principal name", Width: 40},
	{Header: "Mail", Width: 36},
	{Header: "User type", Width: 10},
	{Header: "Account enabled", Kind: Bool},
	{Header: "Created (UTC)", Kind: Time},
	{Header: "Last sign-in (UTC)", Kind: Time},
	{Header: "Last non-interactive sign-in (UTC)", Kind: Time},
	{Header: "Inactive 90 days", Kind: Bool, Flag: true},
	{Header: "External user state", Width: 18},
	{Header: "Job title", Width: 24},
	{Header: "Department", Width: 20},
	{Header: "User ID", Width: 38},
}

func init() {
	Register(Section{Name: "users", Title: "Users", Sheet: "Users", Order: 20, Permissions: []string{"User.Read.All"},
		Columns: userColumns, Decode: decode[User]})
	Register(Section{Name: "signin", Title: "Sign-in activity", Order: 30, Permissions: []string{"User.Read.All", "AuditLog.Read.All"},
		Premium: true})
	Register(Section{Name: "guests", Title: "Guests", Sheet: "Guests", Order: 40, Permissions: []string{"User.Read.All"},
		Columns: userColumns, Decode: decode[User]})
}
