package emulator

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

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

// TestAppendJSONMatchesEncoder: appendJSON's direct writes are byte for byte what encoding/json writes.
func TestAppendJSONMatchesEncoder(t *testing.T) {
	for _, v := range []any{nil, true, false, 0, -42, 1 << 40, "", "plain ascii <&> text", "quote \" and \\ backslash",
		"tab\tnewline\n", "Zoë", "\u2028", "\xff", []string{}, []string(nil), []string{"a", "b\"c"},
		obj{{"a", 1}, {"b", obj{{"c", nil}, {"d", []string{"x"}}}}}, obj(nil), 1.5, map[string]any{"k": "v"}} {
		var got, want bytes.Buffer
		appendJSON(&got, v)
		e := json.NewEncoder(&want)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		if w := strings.TrimSuffix(want.String(), "\n"); got.String() != w {
			t.Errorf("appendJSON(%#v) = %s, want %s", v, got.String(), w)
		}
	}
}
