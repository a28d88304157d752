package section

import "strings"

// Domain is a row of the Domains sheet (the tenant section).
type Domain struct {
	Name               string
	IsDefault          *bool
	IsInitial          *bool
	IsVerified         *bool
	AuthenticationType string
	Services           []string
}

func (d Domain) Key() string { return strings.ToLower(d.Name) }

func (d Domain) Cells() []any {
	return []any{d.Name, optional(d.IsDefault), optional(d.IsInitial), optional(d.IsVerified), d.AuthenticationType, strings.Join(d.Services, ", ")}
}

func init() {
	Register(Section{Name: "tenant", Title: "Domains", Sheet: "Domains", Order: 10,
		Permissions: []string{"Organization.Read.All", "Domain.Read.All"},
		Columns: []Column{
			{Header: "Domain", Width: 36},
			{Header: "Default", Kind: Bool},
			{Header: "Initial", Kind: Bool},
			{Header: "Verified", Kind: Bool},
			{Header: "Authentication", Width: 14},
			{Header: "Services", Width: 40, Wrap: true},
		},
		Decode: decode[Domain]})
}
