package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// countGet sends GET target through the in-memory transport, with ConsistencyLevel when level is not "".
func countGet(t *testing.T, s *Server, target, token, level string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, InMemoryURL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if level != "" {
		req.Header.Set("ConsistencyLevel", level)
	}
	resp, err := (&http.Client{Transport: s.Transport()}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// graphErr decodes a Graph error body.
func graphErr(t *testing.T, body string) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Error.Code, e.Error.Message
}

func TestCount(t *testing.T) {
	w := SampleWorld()
	s := New(w)
	contoso := w.Tenants[0].ID
	tok := graphToken(t, s, w, contoso)
	e := w.ExpectTenant(contoso)
	for _, tc := range []struct {
		target string
		want   int
		ru     string
	}{
		{"/v1.0/users/$count", e.Users, "2"},
		{"/v1.0/devices/$count", e.Devices, "1"},
		{"/v1.0/applications/$count", e.Applications, "2"},
		{"/v1.0/servicePrincipals/$count", e.ServicePrincipals, "1"},
		{"/v1.0/Users/$count/", e.Users, "2"}, // paths are case-insensitive, a final slash is ignored
	} {
		resp, body := countGet(t, s, tc.target, tok, "eventual")
		if resp.StatusCode != 200 || body != strconv.Itoa(tc.want) || resp.Header.Get("Content-Type") != "text/plain" ||
			resp.Header.Get("x-ms-resource-unit") != tc.ru {
			t.Errorf("GET %s = %d %q (%s, x-ms-resource-unit %s), want 200 %q (text/plain, %s)", tc.target, resp.StatusCode, body,
				resp.Header.Get("Content-Type"), resp.Header.Get("x-ms-resource-unit"), strconv.Itoa(tc.want), tc.ru)
		}
	}
	if m := s.Metrics(); m.Requests["graph /users/$count "+contoso] != 2 || m.Requests["graph /devices/$count "+contoso] != 1 {
		t.Errorf("Metrics().Requests = %v, want graph /users/$count twice and graph /devices/$count once", m.Requests)
	}

	// Without ConsistencyLevel: eventual, Graph refuses (microsoft-graph-docs issues #13226, #15067).
	for _, level := range []string{"", "session"} {
		resp, body := countGet(t, s, "/v1.0/users/$count", tok, level)
		if code, msg := graphErr(t, body); resp.StatusCode != 400 || code != "Request_BadRequest" || msg != "$count is not currently supported." {
			t.Errorf("GET /users/$count with ConsistencyLevel %q = %d %s %q, want 400 Request_BadRequest", level, resp.StatusCode, code, msg)
		}
	}
	if resp, body := countGet(t, s, "/v1.0/users/$count?$filter=accountEnabled eq true", tok, "eventual"); resp.StatusCode != 400 {
		t.Errorf("$count with $filter = %d %s, want 400 (not emulated)", resp.StatusCode, body)
	}
	for _, target := range []string{"/v1.0/organization/$count", "/v1.0/users/$count/$count"} {
		if resp, body := countGet(t, s, target, tok, "eventual"); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d %s, want 404", target, resp.StatusCode, body)
		}
	}
}

// TestCountPermissions: $count needs the collection's permission, checked before the query (the missing header).
func TestCountPermissions(t *testing.T) {
	w := SampleWorld()
	w.Tenants[1].Grants = []string{"Organization.Read.All"}
	s := New(w)
	tok := graphToken(t, s, w, w.Tenants[1].ID)
	for _, level := range []string{"eventual", ""} {
		for _, target := range []string{"/v1.0/users/$count", "/v1.0/devices/$count", "/v1.0/servicePrincipals/$count"} {
			resp, body := countGet(t, s, target, tok, level)
			if code, _ := graphErr(t, body); resp.StatusCode != 403 || code != "Authorization_RequestDenied" {
				t.Errorf("GET %s (ConsistencyLevel %q) without its permission = %d %s, want 403 Authorization_RequestDenied", target, level, resp.StatusCode, code)
			}
		}
	}
	w.Tenants[1].Grants = []string{"Directory.Read.All"}
	s = New(w)
	tok = graphToken(t, s, w, w.Tenants[1].ID)
	if resp, body := countGet(t, s, "/v1.0/devices/$count", tok, "eventual"); resp.StatusCode != 200 || body != "700" {
		t.Errorf("GET /devices/$count with Directory.Read.All = %d %q, want 200 700", resp.StatusCode, body)
	}
}

// TestCountBudgets: $count draws the collection's base resource units from the tenant's directory budget and
// is throttled like any request, under its own route.
func TestCountBudgets(t *testing.T) {
	w := SampleWorld()
	w.Throttling = &Throttling{Budgets: []Budget{
		{Family: FamilyDirectory, Scope: ScopeTenant, Limit: 5, Window: Duration(3600e9)},
	}}
	s := New(w)
	contoso := w.Tenants[0].ID
	tok := graphToken(t, s, w, contoso)
	var codes []int
	for range 3 {
		resp, _ := countGet(t, s, "/v1.0/users/$count", tok, "eventual")
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Errorf("three /users/$count at 2 RU against 5 RU = %v, want 200 200 429", codes)
	}
	if m := s.Metrics(); m.ThrottledRoutes["graph /users/$count "+contoso] != 1 || m.Throttled["directory/tenant "+contoso] != 1 {
		t.Errorf("Metrics() throttled %v by route %v, want one directory/tenant 429 on graph /users/$count", m.Throttled, m.ThrottledRoutes)
	}
}

func TestCountInBatch(t *testing.T) {
	w := SampleWorld()
	s := New(w)
	contoso := w.Tenants[0].ID
	tok := graphToken(t, s, w, contoso)
	body, _ := json.Marshal(map[string]any{"requests": []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/$count", "headers": map[string]string{"ConsistencyLevel": "eventual"}},
		{"id": "2", "method": "GET", "url": "/devices/$count"},
	}})
	req := httptest.NewRequest(http.MethodPost, "/v1.0/$batch", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var out struct {
		Responses []struct {
			ID      string
			Status  int
			Headers map[string]string
			Body    json.RawMessage
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Responses) != 2 {
		t.Fatalf("$batch: %d %s (%v)", rec.Code, rec.Body, err)
	}
	if r := out.Responses[0]; r.Status != 200 || string(r.Body) != "250" || r.Headers["Content-Type"] != "text/plain" {
		t.Errorf("batched /users/$count = %d %s %v, want 200 250 text/plain", r.Status, r.Body, r.Headers)
	}
	if r := out.Responses[1]; r.Status != 400 {
		t.Errorf("batched /devices/$count without ConsistencyLevel = %d %s, want 400", r.Status, r.Body)
	}
	if n := s.Metrics().Requests["graph /users/$count "+contoso]; n != 1 {
		t.Errorf("graph /users/$count counted %d times, want 1", n)
	}
}

func TestCountRecorded(t *testing.T) {
	w, err := OpenWorld("recorded")
	if err != nil {
		t.Fatal(err)
	}
	s := New(w)
	tid := w.Tenants[0].ID
	tok := graphToken(t, s, w, tid)
	e := w.ExpectTenant(tid)
	for target, want := range map[string]int{
		"/v1.0/users/$count":             e.Users,
		"/v1.0/devices/$count":           2,
		"/v1.0/applications/$count":      e.Applications,
		"/v1.0/servicePrincipals/$count": e.ServicePrincipals,
	} {
		if resp, body := countGet(t, s, target, tok, "eventual"); resp.StatusCode != 200 || body != strconv.Itoa(want) {
			t.Errorf("recorded GET %s = %d %q, want 200 %d", target, resp.StatusCode, body, want)
		}
	}
	if e.Users != 8 {
		t.Errorf("recorded users = %d, want the 8 of users.json and users.2.json", e.Users)
	}
}
