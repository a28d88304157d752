package section

import (
	"strings"
	"time"
)

// Device is a row of the Devices sheet.
type Device struct {
	ID                     string
	DisplayName            string
	OperatingSystem        string
	OperatingSystemVersion string
	AccountEnabled         *bool
	TrustType              string
	IsCompliant            *bool
	IsManaged              *bool
	LastSignIn             time.Time
	Registered             time.Time
}

func (d Device) Key() string { return strings.ToLower(d.DisplayName) + "\x00" + d.ID }

func (d Device) Cells() []any {
	return []any{d.DisplayName, d.OperatingSystem, d.OperatingSystemVersion, optional(d.AccountEnabled), d.TrustType,
		optional(d.IsCompliant), optional(d.IsManaged), when(d.LastSignIn), when(d.Registered), d.ID}
}

func init() {
	Register(Section{Name: "devices", Title: "Devices", Sheet: "Devices", Order: 80,
		Permissions: []string{"Device.Read.All"},
		Columns: []Column{
			{Header: "Device", Width: 28},
			{Header: "Operating system", Width: 16},
			{Header: "Version", Width: 16},
			{Header: "Enabled", Kind: Bool},
			{Header: "Trust type", Width: 14},
			{Header: "Compliant", Kind: Bool},
			{Header: "Managed", Kind: Bool},
			{Header: "Last sign-in (UTC)", Kind: Time},
			{Header: "Registered (UTC)", Kind: Time},
			{Header: "Device ID", Width: 38},
		},
		Decode: decode[Device]})
}
