package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSampleWorlds(t *testing.T) {
	names := SampleWorldNames()
	if want := []string{"demo", "large200k", "latency200", "msp1000", "msp50", "recorded"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("SampleWorldNames() = %v, want %v", names, want)
	}
	for _, n := range names {
		w, err := OpenWorld(n)
		if err != nil {
			t.Fatalf("OpenWorld(%s): %v", n, err)
		}
		if err := w.Validate(); err != nil {
			t.Errorf("%s: %v", n, err)
		}
		switch n {
		case "demo":
			w.dir = nil
			if !reflect.DeepEqual(w, SampleWorld()) {
				t.Error("worlds/demo.json differs from SampleWorld(); copy testdata/demo.json there")
			}
		case "msp50":
			if len(w.Tenants) != 50 || w.scale() != 0.01 {
				t.Errorf("msp50: %d tenants, scale %v", len(w.Tenants), w.scale())
			}
			exchange := 0
			for _, tn := range w.Tenants {
				if w.ExpectTenant(tn.ID).Exchange != "" {
					exchange++
				}
			}
			if exchange != 3 {
				t.Errorf("msp50: %d tenants whose exchange fails, want 3", exchange)
			}
		case "large200k":
			if w.Tenants[0].Users != 200_000 {
				t.Errorf("large200k: %d users", w.Tenants[0].Users)
			}
		}
	}
	if _, err := OpenWorld("nope"); err == nil || !strings.Contains(err.Error(), "msp50") {
		t.Errorf("OpenWorld(nope) = %v, want an error listing the sample worlds", err)
	}
}

// TestDeterministicCollections: the same world and epoch give byte-identical bodies for every collection.
func TestDeterministicCollections(t *testing.T) {
	w := SampleWorld()
	w.Epoch = "2026-03-01"
	a, b := New(w), New(w)
	tok := graphToken(t, a, w, w.Tenants[0].ID)
	for _, c := range collectionList {
		target := "/v1.0" + c.path
		if c.expand != nil {
			target += "?$expand=principal"
		}
		ra, rb := get(a, target, tok), get(b, target, tok)
		if ra.Code != 200 || !bytes.Equal(ra.Body.Bytes(), rb.Body.Bytes()) {
			t.Errorf("%s: status %d, identical %v: %.300s", c.path, ra.Code, bytes.Equal(ra.Body.Bytes(), rb.Body.Bytes()), ra.Body)
		}
	}
	// Credential expiry counts from the epoch.
	rec := get(a, "/v1.0/applications?$select=passwordCredentials,keyCredentials", tok)
	var apps struct {
		Value []struct {
			PasswordCredentials, KeyCredentials []struct{ EndDateTime time.Time }
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &apps); err != nil {
		t.Fatal(err)
	}
	epoch := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	expired, expiring := 0, 0
	for _, app := range apps.Value {
		for _, c := range append(app.PasswordCredentials, app.KeyCredentials...) {
			switch {
			case c.EndDateTime.Before(epoch):
				expired++
			case c.EndDateTime.Before(epoch.AddDate(0, 0, 30)):
				expiring++
			}
		}
	}
	if expired != 2 || expiring != 2 {
		t.Errorf("expired %d, expiring %d; want 2 and 2", expired, expiring)
	}
}

func TestAdminEndpoints(t *testing.T) {
	w := SampleWorld()
	s := New(w)
	tok := graphToken(t, s, w, w.Tenants[0].ID)
	get(s, "/v1.0/organization", tok)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_emulator/metrics", nil))
	var m Metrics
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m.Requests["graph /organization "+w.Tenants[0].ID] != 1 ||
		m.TokensIssued != 1 || m.PeakConcurrencyAll != 1 {
		t.Errorf("/_emulator/metrics: %v %s", err, rec.Body)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_emulator/expect", nil))
	var e []TenantExpect
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || len(e) != 3 || e[0].Users != 250 || e[2].Exchange != "AADSTS700016" {
		t.Errorf("/_emulator/expect: %v %s", err, rec.Body)
	}
}

func TestBatchLimit(t *testing.T) {
	w := SampleWorld()
	s := New(w)
	tok := graphToken(t, s, w, w.Tenants[0].ID)
	var reqs []map[string]string
	for i := range 21 {
		reqs = append(reqs, map[string]string{"id": string(rune('a' + i)), "method": "GET", "url": "/organization"})
	}
	body, _ := json.Marshal(map[string]any{"requests": reqs})
	req := httptest.NewRequest(http.MethodPost, "/v1.0/$batch", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "20") {
		t.Errorf("21 requests: %d %s, want 400", rec.Code, rec.Body)
	}
}

func TestLargeWorldIsLazy(t *testing.T) {
	w, err := OpenWorld("large200k")
	if err != nil {
		t.Fatal(err)
	}
	s := New(w)
	tok := graphToken(t, s, w, w.Tenants[0].ID)
	rec := get(s, "/v1.0/users?$select=id,signInActivity&$top=999&$skiptoken="+skipToken(s.lookup(w.Tenants[0].ID), 199_000), tok)
	var p struct {
		Next  string           `json:"@odata.nextLink"`
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || len(p.Value) != signInPageSize || p.Next == "" {
		t.Errorf("page at 199,000: %v, %d users, next %q; want %d and a nextLink", err, len(p.Value), p.Next, signInPageSize)
	}
}

func TestLoadWorldNewFieldErrors(t *testing.T) {
	for _, tc := range []struct {
		name, raw, field string
		target           error
	}{
		{"unknown sku", `"licenses":[{"sku":"E3","enabled":1,"consumed":1}]`, "tenants[0].licenses[0].sku", ErrUnknownSKU},
		{"too many admins", `"admins":5`, "tenants[0].admins", ErrOutOfRange},
		{"expired over credentials", `"apps":1,"expiredCredentials":3`, "tenants[0].expiredCredentials", ErrOutOfRange},
		{"fault ratio", `"faults":{"serverErrors":2}`, "tenants[0].faults.serverErrors", ErrOutOfRange},
	} {
		raw := `{"homeTenantId":"6f1c2a9e-3b4d-4e8f-9a0b-1c2d3e4f5a6b","managedIdentity":{"clientId":"0d4f5b6a-7c8e-4f90-a1b2-c3d4e5f6a7b8","objectId":"5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a80"},` +
			`"bridgeApp":{"clientId":"3a7b9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d","federatedCredentials":[]},` +
			`"tenants":[{"id":"2b8e4f1a-6c3d-4b7e-9f5a-0d1c2e3f4a5b","displayName":"C","users":2,` + tc.raw + `}]}`
		_, err := LoadWorld(strings.NewReader(raw))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, tc.target) {
			t.Errorf("%s: %v, want a FieldError for %s wrapping %v", tc.name, err, tc.field, tc.target)
		}
	}
	bad := `{"homeTenantId":"6f1c2a9e-3b4d-4e8f-9a0b-1c2d3e4f5a6b","managedIdentity":{"clientId":"0d4f5b6a-7c8e-4f90-a1b2-c3d4e5f6a7b8","objectId":"5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a80"},` +
		`"bridgeApp":{"clientId":"3a7b9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d","federatedCredentials":[]},"tenants":[],` +
		`"throttling":{"budgets":[{"family":"mail","scope":"tenant","limit":1,"window":"1s"}]}}`
	if _, err := LoadWorld(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "throttling.budgets[0].family") {
		t.Errorf("unknown family: %v", err)
	}
}
