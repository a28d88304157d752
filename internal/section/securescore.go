package section

import "time"

// SecureScore is a row of the Secure score sheet: the newest score.
type SecureScore struct {
	Created       time.Time
	CurrentScore  float64
	MaxScore      float64
	LicensedUsers int
	ActiveUsers   int
}

// Percent is the score as a fraction of the maximum (0–1).
func (s SecureScore) Percent() float64 {
	if s.MaxScore <= 0 {
		return 0
	}
	return s.CurrentScore / s.MaxScore
}

// Key: a tenant has one row.
func (s SecureScore) Key() string { return "" }

func (s SecureScore) Cells() []any {
	return []any{when(s.Created), s.CurrentScore, s.MaxScore, s.Percent(), s.LicensedUsers, s.ActiveUsers}
}

func init() {
	Register(Section{Name: "securescore", Title: "Secure score", Sheet: "Secure score", Order: 110,
		Permissions: []string{"SecurityEvents.Read.All"},
		Columns: []Column{
			{Header: "Date (UTC)", Kind: Time},
			{Header: "Score", Kind: Float},
			{Header: "Max score", Kind: Float},
			{Header: "Score %", Kind: Percent},
			{Header: "Licensed users", Kind: Int},
			{Header: "Active users", Kind: Int},
		},
		Decode: decode[SecureScore]})
}
