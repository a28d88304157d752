package section

import (
	"strings"
	"time"
)

// AppCredential is a row of the App credentials sheet: one secret or
// certificate of an application or service principal.
type AppCredential struct {
	ObjectType     string
	DisplayName    string
	AppID          string
	CredentialType string
	Name           string
	KeyID          string
	Start          time.Time
	End            time.Time
	// DaysToExpiry is negative once expired; known when End is.
	DaysToExpiry int
	Expired      bool
	ExpiringSoon bool
}

func (c AppCredential) Key() string {
	return strings.ToLower(c.DisplayName) + "\x00" + c.AppID + "\x00" + c.ObjectType + "\x00" + c.CredentialType + "\x00" + c.KeyID
}

func (c AppCredential) Cells() []any {
	// Without an end date, how long the credential lasts is unknown.
	var days, expired, soon any
	if !c.End.IsZero() {
		days, expired, soon = c.DaysToExpiry, c.Expired, c.ExpiringSoon
	}
	return []any{c.DisplayName, c.ObjectType, c.AppID, c.CredentialType, c.Name, when(c.Start), when(c.End), days, expired, soon, c.KeyID}
}

func init() {
	Register(Section{Name: "appcredentials", Title: "App credentials", Sheet: "App credentials", Order: 100,
		Permissions: []string{"Application.Read.All"},
		Columns: []Column{
			{Header: "Application", Width: 32},
			{Header: "Object", Width: 16},
			{Header: "App ID", Width: 38},
			{Header: "Credential", Width: 12},
			{Header: "Name", Width: 24},
			{Header: "Starts (UTC)", Kind: Time},
			{Header: "Expires (UTC)", Kind: Time},
			{Header: "Days to expiry", Kind: Int},
			{Header: "Expired", Kind: Bool, Flag: true},
			{Header: "Expires within 30 days", Kind: Bool, Flag: true},
			{Header: "Key ID", Width: 38},
		},
		Decode: decode[AppCredential]})
}
