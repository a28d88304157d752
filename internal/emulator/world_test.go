package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var update = flag.Bool("update", false, "rewrite testdata/demo.json from SampleWorld")

func TestSampleWorldMatchesDemoJSON(t *testing.T) {
	const path = "testdata/demo.json"
	if *update {
		b, err := json.MarshalIndent(SampleWorld(), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := LoadWorld(f)
	if err != nil {
		t.Fatalf("LoadWorld(%s): %v", path, err)
	}
	if !reflect.DeepEqual(w, SampleWorld()) {
		t.Errorf("%s differs from SampleWorld(); run go test -run TestSampleWorldMatchesDemoJSON -update", path)
	}
	if err := SampleWorld().Validate(); err != nil {
		t.Errorf("SampleWorld().Validate() = %v", err)
	}
}

func TestLoadWorldErrors(t *testing.T) {
	valid, _ := json.Marshal(SampleWorld())
	for _, tc := range []struct {
		name   string
		edit   func(m map[string]any)
		raw    string
		field  string
		target error
	}{
		{name: "unknown field", raw: `{"homeTenantId":"6f1c2a9e-3b4d-4e8f-9a0b-1c2d3e4f5a6b","tenant":[]}`},
		{name: "trailing data", raw: string(valid) + `{}`},
		{name: "home not a GUID", edit: func(m map[string]any) { m["homeTenantId"] = "contoso" },
			field: "homeTenantId", target: ErrNotGUID},
		{name: "missing MI object id", edit: func(m map[string]any) { delete(m["managedIdentity"].(map[string]any), "objectId") },
			field: "managedIdentity.objectId", target: ErrMissing},
		{name: "duplicate tenant", edit: func(m map[string]any) {
			ts := m["tenants"].([]any)
			m["tenants"] = append(ts, ts[0])
		}, field: "tenants[3].id", target: ErrDuplicate},
		{name: "unknown permission", edit: func(m map[string]any) {
			m["tenants"].([]any)[1].(map[string]any)["grants"] = []string{"User.Read.Al"}
		}, field: "tenants[1].grants[0]", target: ErrUnknownPermission},
		{name: "ratio over 1", edit: func(m map[string]any) { m["tenants"].([]any)[0].(map[string]any)["guestRatio"] = 1.5 },
			field: "tenants[0].guestRatio", target: ErrOutOfRange},
		{name: "negative users", edit: func(m map[string]any) { m["tenants"].([]any)[0].(map[string]any)["users"] = -1 },
			field: "tenants[0].users", target: ErrOutOfRange},
		{name: "system-assigned identity without object id", edit: func(m map[string]any) {
			m["systemAssignedIdentity"] = map[string]any{"clientId": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}
		}, field: "systemAssignedIdentity.objectId", target: ErrMissing},
		{name: "system-assigned identity is the user-assigned one", edit: func(m map[string]any) {
			m["systemAssignedIdentity"] = m["managedIdentity"]
		}, field: "systemAssignedIdentity.clientId", target: ErrDuplicate},
		{name: "fic without audiences", edit: func(m map[string]any) {
			m["bridgeApp"].(map[string]any)["federatedCredentials"].([]any)[0].(map[string]any)["audiences"] = []string{}
		}, field: "bridgeApp.federatedCredentials[0].audiences", target: ErrMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			if tc.edit != nil {
				var m map[string]any
				_ = json.Unmarshal(valid, &m)
				tc.edit(m)
				b, _ := json.Marshal(m)
				raw = string(b)
			}
			_, err := LoadWorld(strings.NewReader(raw))
			if err == nil {
				t.Fatal("LoadWorld succeeded, want an error")
			}
			if tc.field == "" {
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, tc.target) {
				t.Errorf("LoadWorld = %v, want a FieldError for %s wrapping %v", err, tc.field, tc.target)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name the field", err)
			}
		})
	}
}

func TestExpectMatchesGeneratedUsers(t *testing.T) {
	w := SampleWorld()
	w.Tenants = append(w.Tenants, Tenant{ID: "0a0b0c0d-0000-4000-8000-000000000001", DisplayName: "Tiny", Users: 1, GuestRatio: 1},
		Tenant{ID: "0a0b0c0d-0000-4000-8000-000000000002", DisplayName: "Empty"})
	for i, tn := range w.Tenants {
		tt := newTenant(w, i)
		var got Counts
		for j := range tn.Users {
			u := tt.user(j)
			got.Users++
			if u.enabled {
				got.EnabledUsers++
			}
			if u.guest {
				got.Guests++
			}
		}
		if want := w.Expect(tn.ID); got != want {
			t.Errorf("%s: generated %+v, Expect = %+v", tn.DisplayName, got, want)
		}
	}
	if c := w.Expect("ffffffff-ffff-4fff-8fff-ffffffffffff"); c != (Counts{}) {
		t.Errorf("Expect(unknown) = %+v, want zero", c)
	}
}

// graphToken mints a Graph token through the server's own endpoints, as a client would.
func graphToken(t testing.TB, s *Server, w *World, tenantID string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/msi/token?api-version=2019-08-01&resource=api://AzureADTokenExchange&client_id="+
		w.ManagedIdentity.ClientID, nil)
	req.Header.Set("X-IDENTITY-HEADER", s.IdentityHeader())
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var mi struct {
		AccessToken string `json:"access_token"`
		ExpiresOn   string `json:"expires_on"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &mi); err != nil || rec.Code != 200 || mi.ExpiresOn == "" {
		t.Fatalf("MI token: %d %s", rec.Code, rec.Body)
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {w.BridgeApp.ClientID},
		"client_assertion_type": {jwtBearer},
		"client_assertion":      {mi.AccessToken},
		"scope":                 {"https://graph.microsoft.com/.default"},
		"claims":                {`{"access_token":{"xms_cc":{"values":["cp1"]}}}`},
	}
	req = httptest.NewRequest(http.MethodPost, "/"+tenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || rec.Code != 200 || tok.ExpiresIn != 3599 {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	return tok.AccessToken
}

func get(s *Server, target, token string) *httptest.ResponseRecorder {
	return getWith(s, target, token, "")
}

func TestDeterministicPages(t *testing.T) {
	w := SampleWorld()
	fabrikam := w.Tenants[1].ID
	a, b := New(w), New(SampleWorld())
	tok := graphToken(t, a, w, fabrikam) // same world, same key: b accepts a's token
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatal(err)
	}
	if cc, _ := c["xms_cc"].([]any); len(cc) != 1 || cc[0] != "cp1" {
		t.Errorf("xms_cc = %v, want [cp1] from the claims parameter", c["xms_cc"])
	}
	target := "/v1.0/users?$top=999&$select=displayName,accountEnabled,userType,createdDateTime,mail"
	for page := 1; target != ""; page++ {
		ra, rb := get(a, target, tok), get(b, target, tok)
		if ra.Code != 200 || !bytes.Equal(ra.Body.Bytes(), rb.Body.Bytes()) {
			t.Fatalf("page %d: status %d/%d, bodies equal %v", page, ra.Code, rb.Code, bytes.Equal(ra.Body.Bytes(), rb.Body.Bytes()))
		}
		var p struct {
			Context string           `json:"@odata.context"`
			Next    string           `json:"@odata.nextLink"`
			Value   []map[string]any `json:"value"`
		}
		if err := json.Unmarshal(ra.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p.Context != "http://example.com/v1.0/$metadata#users(id,accountEnabled,createdDateTime,displayName,mail,userType)" {
			t.Errorf("@odata.context = %q", p.Context)
		}
		if len(p.Value[0]) != 6 {
			t.Errorf("page %d: user has %d properties, want 6 (5 selected + id): %v", page, len(p.Value[0]), p.Value[0])
		}
		target = strings.TrimPrefix(p.Next, "http://example.com")
		if page > 2 {
			t.Fatal("more than two pages for 1,200 users at $top=999")
		}
	}
}

func TestDefaultSelectAndTop(t *testing.T) {
	w := SampleWorld()
	s := New(w)
	tok := graphToken(t, s, w, w.Tenants[0].ID)
	rec := get(s, "/v1.0/users", tok)
	var p struct {
		Next  string           `json:"@odata.nextLink"`
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Value) != 100 || p.Next == "" {
		t.Errorf("GET /users: %d users, nextLink %q; want the default page of 100 and a nextLink", len(p.Value), p.Next)
	}
	for _, k := range userDefaultSelect {
		if _, ok := p.Value[0][k]; !ok {
			t.Errorf("default property %s missing", k)
		}
	}
	if _, ok := p.Value[0]["accountEnabled"]; ok || len(p.Value[0]) != len(userDefaultSelect) {
		t.Errorf("default user has %v, want exactly Graph's default set", p.Value[0])
	}
	// A skiptoken from another tenant is refused.
	other := graphToken(t, s, w, w.Tenants[1].ID)
	next, _ := url.Parse(p.Next)
	if rec := get(s, next.RequestURI(), other); rec.Code != 400 {
		t.Errorf("foreign skiptoken: status %d, want 400", rec.Code)
	}
}

func TestLargeTenantIsLazy(t *testing.T) {
	w := SampleWorld()
	w.Tenants[0].Users = MaxUsers
	s := New(w)
	tok := graphToken(t, s, w, w.Tenants[0].ID)
	tt := s.lookup(w.Tenants[0].ID)
	rec := get(s, "/v1.0/users?$top=999&$select=id&$skiptoken="+skipToken(tt, MaxUsers-10), tok)
	var p struct {
		Next  *string          `json:"@odata.nextLink"`
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Value) != 10 || p.Next != nil {
		t.Errorf("last page: %d users, nextLink %v; want 10 and none", len(p.Value), p.Next)
	}
}

func TestGraphTokenLifetime(t *testing.T) {
	w := SampleWorld()
	s := New(w)
	tok := graphToken(t, s, w, w.Tenants[0].ID)
	s2 := New(w)
	s2.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	rec := get(s2, "/v1.0/organization", tok)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), "the token is expired") {
		t.Errorf("expired token: %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
}

func TestZeroServer(t *testing.T) {
	var s Server
	req := httptest.NewRequest(http.MethodGet, "/2b8e4f1a-6c3d-4b7e-9f5a-0d1c2e3f4a5b/v2.0/.well-known/openid-configuration", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "AADSTS90002") {
		t.Errorf("zero Server discovery: %d %s, want 400 AADSTS90002", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nowhere", nil))
	if rec.Code != 404 {
		t.Errorf("unknown route: %d, want 404", rec.Code)
	}
	if m := s.Metrics(); m.Requests["discovery 2b8e4f1a-6c3d-4b7e-9f5a-0d1c2e3f4a5b"] != 1 || m.Requests["notfound -"] != 1 {
		t.Errorf("Metrics().Requests = %v", m.Requests)
	}
}

func TestDiscoveryAndKeys(t *testing.T) {
	w := SampleWorld()
	s := New(w)
	tid := w.Tenants[0].ID
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration", nil))
	var d map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != 200 {
		t.Fatalf("discovery by domain: %d %s", rec.Code, rec.Body)
	}
	base := "http://example.com/" + tid
	// The issuer is the one the tenant's tokens carry, on Entra's host: a validator compares them.
	if d["issuer"] != "https://login.microsoftonline.com/"+tid+"/v2.0" || d["token_endpoint"] != base+"/oauth2/v2.0/token" || d["jwks_uri"] != base+"/discovery/v2.0/keys" ||
		d["authorization_endpoint"] != base+"/oauth2/v2.0/authorize" {
		t.Errorf("discovery = %v", d)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+tid+"/discovery/v2.0/keys", nil))
	var jwks struct{ Keys []map[string]any }
	if err := json.Unmarshal(rec.Body.Bytes(), &jwks); err != nil || len(jwks.Keys) != 1 || jwks.Keys[0]["kid"] != s.state().keys.Load().keys[0].kid {
		t.Errorf("keys: %d %s", rec.Code, rec.Body)
	}
}
