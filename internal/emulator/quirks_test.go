package emulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// getWith is get with a QuirksHeader ("" sends none).
func getWith(s *Server, target, token, quirks string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if quirks != "" {
		req.Header.Set(QuirksHeader, quirks)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// errorCode returns the code of a Graph error body, or "".
func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	return e.Error.Code
}

const registrations = "/v1.0/reports/authenticationMethods/userRegistrationDetails"

func TestQuirkStrictQueryOptions(t *testing.T) {
	w := SampleWorld()
	contoso := w.Tenants[0] // 250 users, premium
	// The reports budget allows 5 requests per 10 s.
	w.Throttling = &Throttling{Disabled: true}
	s := New(w)
	tok := graphToken(t, s, w, contoso.ID)
	for _, tc := range []struct {
		query, quirks string
		status        int
		code          string
	}{
		{"?$top=999", "", 200, ""},
		{"?$select=userPrincipalName,isMfaRegistered", "", 200, ""},
		{"?$top=999", QuirkStrictQueryOptions, 400, "Request_UnsupportedQuery"},
		{"?$select=userPrincipalName", QuirkStrictQueryOptions, 400, "Request_UnsupportedQuery"},
		{"?$select=userPrincipalName", " Strict-Query-Options , ", 400, "Request_UnsupportedQuery"},
		{"", QuirkStrictQueryOptions, 200, ""},
		{"", "strict-query-option", 400, "BadRequest"}, // misspelt: fails rather than being ignored
	} {
		rec := getWith(s, registrations+tc.query, tok, tc.quirks)
		if rec.Code != tc.status || (tc.code != "" && errorCode(t, rec) != tc.code) {
			t.Errorf("GET userRegistrationDetails%s with quirks %q = %d %s, want %d %s", tc.query, tc.quirks, rec.Code, rec.Body, tc.status, tc.code)
		}
	}
	// Strict: the pages link without $top, so following them stays within the documented options.
	target, users := registrations, 0
	for page := 1; target != ""; page++ {
		rec := getWith(s, target, tok, QuirkStrictQueryOptions)
		if rec.Code != 200 {
			t.Fatalf("page %d (%s) = %d %s", page, target, rec.Code, rec.Body)
		}
		var p struct {
			Next  string           `json:"@odata.nextLink"`
			Value []map[string]any `json:"value"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		users += len(p.Value)
		if p.Next == "" {
			break
		}
		next, err := url.Parse(p.Next)
		if err != nil {
			t.Fatal(err)
		}
		if q := next.Query(); len(q) != 1 || q.Get("$skiptoken") == "" {
			t.Errorf("page %d: nextLink %q, want only $skiptoken", page, p.Next)
		}
		target = next.RequestURI()
		if page > 3 {
			t.Fatal("more than three pages of 100 for 250 users")
		}
	}
	if users != contoso.Users {
		t.Errorf("strict pages hold %d registrations, want %d", users, contoso.Users)
	}
	// Collections whose pages document more are not restricted.
	if rec := getWith(s, "/v1.0/users?$top=5&$select=id", tok, QuirkStrictQueryOptions); rec.Code != 200 {
		t.Errorf("GET /users?$top=5&$select=id, strict = %d %s, want 200", rec.Code, rec.Body)
	}
}

func TestQuirkPremiumCheckNeedsDirectoryRead(t *testing.T) {
	w := SampleWorld()
	contoso, fabrikam := &w.Tenants[0], &w.Tenants[1] // premium; not premium
	var noDirectory []string
	for _, p := range KnownPermissions() {
		if p != "Directory.Read.All" {
			noDirectory = append(noDirectory, p)
		}
	}
	contoso.Grants = noDirectory
	fabrikam.Grants = []string{"User.Read.All", "AuditLog.Read.All"}
	w.Throttling = &Throttling{Disabled: true} // the reports budget allows 5 requests per 10 s
	s := New(w)
	ctok, ftok := graphToken(t, s, w, contoso.ID), graphToken(t, s, w, fabrikam.ID)

	w2 := SampleWorld() // Contoso with every permission, Directory.Read.All included
	s2 := New(w2)
	full := graphToken(t, s2, w2, w2.Tenants[0].ID)

	for _, tc := range []struct {
		name   string
		s      *Server
		token  string
		quirks string
		target string
		status int
		code   string
	}{
		{"without the quirk", s, ctok, "", registrations, 200, ""},
		{"no Directory.Read.All", s, ctok, QuirkPremiumCheckNeedsDirectoryRead, registrations, 403, "Authentication_ApplicationHasNoDirectoryReadAccess"},
		{"not premium either", s, ftok, QuirkPremiumCheckNeedsDirectoryRead, registrations, 403, "Authentication_ApplicationHasNoDirectoryReadAccess"},
		{"not premium, without the quirk", s, ftok, "", registrations, 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"},
		{"Directory.Read.All granted", s2, full, QuirkPremiumCheckNeedsDirectoryRead, registrations, 200, ""},
		{"signInActivity is not a reports endpoint", s, ctok, QuirkPremiumCheckNeedsDirectoryRead, "/v1.0/users?$select=id,signInActivity", 200, ""},
		{"both quirks", s, ctok, QuirkStrictQueryOptions + "," + QuirkPremiumCheckNeedsDirectoryRead, registrations + "?$top=5", 403, "Authentication_ApplicationHasNoDirectoryReadAccess"},
	} {
		rec := getWith(tc.s, tc.target, tc.token, tc.quirks)
		if rec.Code != tc.status || (tc.code != "" && errorCode(t, rec) != tc.code) {
			t.Errorf("%s: GET %s = %d %s, want %d %s", tc.name, tc.target, rec.Code, rec.Body, tc.status, tc.code)
		}
		if tc.code == "Authentication_ApplicationHasNoDirectoryReadAccess" && !strings.Contains(rec.Body.String(), "Failed to do premium license check") {
			t.Errorf("%s: body %s, want Graph's message", tc.name, rec.Body)
		}
	}
}

// TestResourceUnits checks the base costs against Graph's table: GET applications 2, GET servicePrincipals the
// unlisted base of 1, each less 1 with $select (at least 1).
func TestResourceUnits(t *testing.T) {
	w := SampleWorld()
	s := New(w)
	tok := graphToken(t, s, w, w.Tenants[0].ID)
	for target, want := range map[string]string{
		"/v1.0/applications":                 "2",
		"/v1.0/applications?$select=id":      "1",
		"/v1.0/servicePrincipals":            "1",
		"/v1.0/servicePrincipals?$select=id": "1",
		"/v1.0/users":                        "2",
		"/v1.0/subscribedSkus":               "3",
		"/v1.0/devices":                      "1",
		"/v1.0/organization?$select=id,city": "1",
	} {
		rec := getWith(s, target, tok, "")
		if got := rec.Header().Get("x-ms-resource-unit"); rec.Code != 200 || got != want {
			t.Errorf("GET %s: %d, x-ms-resource-unit %q; want 200, %q", target, rec.Code, got, want)
		}
	}
}
