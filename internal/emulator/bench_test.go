package emulator

import "testing"

// BenchmarkUsersPage serves one page of 999 users with the product's $select, the emulator's cost per page of a
// large run.
func BenchmarkUsersPage(b *testing.B) {
	w := SampleWorld()
	w.Tenants[0].Users = 60_000
	w.Throttling = &Throttling{Disabled: true}
	s := New(w)
	tok := graphToken(b, s, w, w.Tenants[0].ID)
	for _, bc := range []struct{ name, target string }{
		{"users", "/v1.0/users?$select=id,displayName,userPrincipalName,mail,accountEnabled,userType,createdDateTime,externalUserState&$top=999"},
		{"signin", "/v1.0/users?$select=id,userPrincipalName,signInActivity&$top=999"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rec := get(s, bc.target, tok); rec.Code != 200 {
					b.Fatal(rec.Code, rec.Body)
				}
			}
		})
	}
}
