package customhandler

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/tenantreport/tenantreport/internal/apiauth"
	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/runtest"
)

// The home tenant and API app of the Entra route tests, and their callers:
// each a client app (appid) whose service principal in the home tenant is
// oid.
const (
	entraHome  = "9b1c2d3e-4f50-4a61-8b72-c3d4e5f60718"
	entraAPI   = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
	entraAppID = "api://" + entraAPI

	contosoApp   = "c0c0c0c0-1111-4aaa-8bbb-000000000001" // Contoso's automation
	contosoSP    = "c0c0c0c0-2222-4aaa-8bbb-000000000002"
	fabrikamSP   = "fabfabfa-2222-4aaa-8bbb-000000000004" // mapped by its service principal
	fabrikamApp  = "fabfabfa-1111-4aaa-8bbb-000000000003"
	mspApp       = "05050505-1111-4aaa-8bbb-000000000005" // the MSP's own automation
	unmappedApp  = "0d0d0d0d-1111-4aaa-8bbb-000000000006"
	contosoID    = "0c4a9f3e-1111-4a2b-9c3d-5e6f7a8b9c01"
	fabrikamID   = "7d2e5b1a-2222-4c3d-8e4f-6a7b8c9d0e02"
	northwindID  = "a91f0c6d-3333-4e5f-9a0b-1c2d3e4f5a03"
	entraLogLine = "api access"
)

// entraWorld is the API world with the Entra routes on, checking tokens
// against an emulated home tenant.
type entraWorld struct {
	*apiWorld
	em  *emulator.Running
	log *syncBuffer
}

// syncBuffer is a log destination the handler writes while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEntraWorld(t *testing.T) *entraWorld {
	t.Helper()
	em, err := emulator.Start(&emulator.World{HomeTenantID: entraHome, Seed: 7,
		API: &emulator.API{ClientID: entraAPI, AppRoles: []string{RoleReadAll, RoleReadTenant, RoleRun}, AccessTokenVersion: 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	w := newAPIWorld(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	v := apiauth.New(t.Context(), apiauth.Config{Authority: em.URL, TenantID: entraHome,
		Audiences: []string{entraAppID, entraAPI}, Client: em.Client()})
	w.handler = New(Config{Runner: w.runner, Store: w.recorder, Queue: w.sender, Logger: log, Entra: &Entra{
		Authenticator: v,
		Callers: map[string][]string{
			contosoApp: {contosoID},
			fabrikamSP: {fabrikamID},
		},
	}})
	w.srv = httptest.NewServer(w.handler)
	t.Cleanup(w.srv.Close)
	return &entraWorld{apiWorld: w, em: em, log: logs}
}

// token is a v2.0 app-only token of the home tenant for the API, as Entra
// issues it to a confidential client holding roles.
func (w *entraWorld) token(t *testing.T, appID, oid string, roles ...string) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"aud": entraAPI, "iss": "https://login.microsoftonline.com/" + entraHome + "/v2.0", "tid": entraHome,
		"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
		"azp": appID, "azpacr": "2", "idtyp": "app", "oid": oid, "sub": oid, "ver": "2.0",
	}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	tok, err := w.em.Server.SignToken(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// finishedRun runs a report of every tenant and returns its record.
func (w *entraWorld) finishedRun(t *testing.T) run.Record {
	t.Helper()
	rec, err := w.runner.Run(t.Context(), run.Request{Trigger: "timer"})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestEntraTenantCallerSeesItsTenantOnly(t *testing.T) {
	w := newEntraWorld(t)
	rec := w.finishedRun(t)
	contoso := bearer(w.token(t, contosoApp, contosoSP, RoleReadTenant))
	read := len(w.recorder.seen()) // what the run itself stored

	// The list and the record hold Contoso's row only, without the
	// combined workbook.
	list := w.do(t, http.MethodGet, "/api/entra/reports", "", contoso...)
	var page struct {
		Runs []struct {
			run.Summary
			URL string `json:"url"`
		} `json:"runs"`
	}
	list.decode(t, &page)
	if list.status != http.StatusOK || len(page.Runs) != 1 {
		t.Fatalf("GET /api/entra/reports = %d %s, want the one run", list.status, list.body)
	}
	if got := page.Runs[0]; got.RunID != rec.RunID || got.Report != "" || got.TenantsTotal != 1 || got.TenantCounts.OK != 1 ||
		got.URL != "/api/entra/reports/"+rec.RunID {
		t.Errorf("the run as Contoso lists it = %+v, want its own tenant counted (1 ok of 1), no combined workbook, an /api/entra URL", got)
	}
	show := w.do(t, http.MethodGet, "/api/entra/reports/"+rec.RunID, "", contoso...)
	var got run.Record
	show.decode(t, &got)
	if show.status != http.StatusOK || len(got.Tenants) != 1 || got.Tenants[0].TenantID != contosoID || got.Report != "" {
		t.Errorf("GET the run as Contoso = %d, tenants %v, report %q; want Contoso's row alone and no combined workbook", show.status, tenantIDs(got), got.Report)
	}
	if strings.Contains(string(show.body), "Fabrikam") || strings.Contains(string(list.body), "Fabrikam") {
		t.Errorf("Contoso's replies name another tenant:\n%s\n%s", list.body, show.body)
	}

	// Its own workbook downloads; the combined one and Fabrikam's do not.
	own := w.do(t, http.MethodGet, "/api/entra/reports/"+rec.RunID+"/tenants/"+contosoID+"/download", "", contoso...)
	want := tenantOf(t, rec, contosoID)
	if own.status != http.StatusOK || own.header.Get("Content-Type") != xlsxType || !bytes.Equal(own.body, runtest.Blob(t, w.store, want.Report)) {
		t.Fatalf("Contoso's own workbook = %d %s (%d bytes), want the stored %s", own.status, own.header.Get("Content-Type"), len(own.body), want.Report)
	}
	if cd := own.header.Get("Content-Disposition"); !strings.Contains(cd, "-Contoso.xlsx") {
		t.Errorf("Content-Disposition = %q, want the tenant's name in the file name", cd)
	}
	f, err := excelize.OpenReader(bytes.NewReader(own.body))
	if err != nil {
		t.Fatalf("Contoso's workbook does not open: %v", err)
	}
	defer f.Close()
	if users, _ := f.GetRows("Users"); len(users) != usersPerTenant+1 || slices.ContainsFunc(users[1:], func(r []string) bool { return r[0] != "Contoso" }) {
		t.Errorf("Contoso's Users sheet = %v, want its %d users alone", users, usersPerTenant)
	}
	for _, c := range []struct{ path, wantInMessage string }{
		{"/api/entra/reports/" + rec.RunID + "/download", RoleReadAll},
		{"/api/entra/reports/latest/download", RoleReadAll},
		{"/api/entra/reports/" + rec.RunID + "/tenants/" + fabrikamID + "/download", fabrikamID},
		{"/api/entra/reports/latest/tenants/" + northwindID + "/download", northwindID},
	} {
		r := w.do(t, http.MethodGet, c.path, "", contoso...)
		code, msg := r.apiErr(t)
		if r.status != http.StatusForbidden || code != "forbidden" || !strings.Contains(msg, c.wantInMessage) {
			t.Errorf("GET %s as Contoso = %d %s %q, want 403 forbidden naming %s", c.path, r.status, code, msg, c.wantInMessage)
		}
		if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, `Bearer error="insufficient_scope", error_description="`) {
			t.Errorf("GET %s as Contoso: WWW-Authenticate = %q, want an insufficient_scope challenge", c.path, ch)
		}
	}
	// Refusals touch no workbook.
	for _, name := range w.recorder.seen()[read:] {
		if strings.HasSuffix(name, ".xlsx") && name != want.Report {
			t.Errorf("a Contoso request read %s", name)
		}
	}
}

func TestEntraReadAllCallerGetsEverything(t *testing.T) {
	w := newEntraWorld(t)
	rec := w.finishedRun(t)
	msp := bearer(w.token(t, mspApp, "05050505-2222-4aaa-8bbb-000000000005", RoleReadAll))
	r := w.do(t, http.MethodGet, "/api/entra/reports/"+rec.RunID+"/download", "", msp...)
	if r.status != http.StatusOK || !bytes.Equal(r.body, runtest.Blob(t, w.store, rec.Report)) {
		t.Fatalf("the combined workbook as Reports.Read.All = %d (%d bytes), want the stored one", r.status, len(r.body))
	}
	for _, id := range []string{contosoID, fabrikamID, northwindID} {
		r := w.do(t, http.MethodGet, "/api/entra/reports/latest/tenants/"+id+"/download", "", msp...)
		if r.status != http.StatusOK || !bytes.Equal(r.body, runtest.Blob(t, w.store, tenantOf(t, rec, id).Report)) {
			t.Errorf("tenant %s's workbook as Reports.Read.All = %d, want it", id, r.status)
		}
	}
	var got run.Record
	show := w.do(t, http.MethodGet, "/api/entra/reports/latest", "", msp...)
	show.decode(t, &got)
	if len(got.Tenants) != 3 || got.Report != rec.Report {
		t.Errorf("the record as Reports.Read.All has tenants %v and report %q, want all three and %s", tenantIDs(got), got.Report, rec.Report)
	}
}

func TestEntraRefusals(t *testing.T) {
	w := newEntraWorld(t)
	rec := w.finishedRun(t)
	runPath := "/api/entra/reports/" + rec.RunID
	northwind, err := w.runner.Run(t.Context(), run.Request{Trigger: "timer", Tenants: []string{northwindID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, method, path string
		header             []string
		status             int
		challenge          string // prefix of WWW-Authenticate
		message            string // in the error message
	}{
		{"no token", http.MethodGet, runPath, nil, 401, `Bearer error="invalid_token", error_description="`, ""},
		{"not a JWT", http.MethodGet, runPath, bearer("not-a-token"), 401, `Bearer error="invalid_token", error_description="`, ""},
		{"no role", http.MethodGet, runPath, bearer(w.token(t, contosoApp, contosoSP)), 403, `Bearer error="insufficient_scope"`, RoleReadTenant},
		{"unmapped caller", http.MethodGet, "/api/entra/reports", bearer(w.token(t, unmappedApp, "0d0d0d0d-2222-4aaa-8bbb-000000000006", RoleReadTenant)), 403, `Bearer error="insufficient_scope"`, "REPORT_API_CALLERS"},
		{"run without Reports.Run", http.MethodPost, "/api/entra/reports", bearer(w.token(t, contosoApp, contosoSP, RoleReadTenant)), 403, `Bearer error="insufficient_scope"`, RoleRun},
		{"run of another tenant", http.MethodPost, "/api/entra/reports", bearer(w.token(t, contosoApp, contosoSP, RoleRun)), 403, `Bearer error="insufficient_scope"`, fabrikamID},
		{"a run without the caller's tenants", http.MethodGet, "/api/entra/reports/" + northwind.RunID, bearer(w.token(t, fabrikamApp, fabrikamSP, RoleReadTenant)), 403, `Bearer error="insufficient_scope"`, "includes none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := ""
			if c.name == "run of another tenant" {
				body = `{"tenants":["` + fabrikamID + `"]}`
			}
			r := w.do(t, c.method, c.path, body, c.header...)
			_, msg := r.apiErr(t)
			if r.status != c.status || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), c.challenge) || !strings.Contains(msg, c.message) {
				t.Errorf("%s %s = %d, WWW-Authenticate %q, message %q; want %d, %s…, naming %q", c.method, c.path, r.status,
					r.header.Get("WWW-Authenticate"), msg, c.status, c.challenge, c.message)
			}
		})
	}
}

func TestEntraRunOfOwnTenants(t *testing.T) {
	w := newEntraWorld(t)
	contoso := bearer(w.token(t, contosoApp, contosoSP, RoleRun, RoleReadTenant))
	r := w.do(t, http.MethodPost, "/api/entra/reports", "", contoso...)
	var rec run.Record
	r.decode(t, &rec)
	if r.status != http.StatusAccepted || !slices.Equal(rec.RequestedTenants, []string{contosoID}) ||
		r.header.Get("Location") != "/api/entra/reports/"+rec.RunID {
		t.Fatalf("POST as Contoso = %d %s, Location %q; want 202, a run of Contoso alone, an /api/entra Location", r.status, r.body, r.header.Get("Location"))
	}
	msgs := w.take(t)
	var req run.Request
	if len(msgs) != 1 || json.Unmarshal([]byte(msgs[0].text), &req) != nil || !slices.Equal(req.Tenants, []string{contosoID}) {
		t.Errorf("queued requests %v, want one of tenants [%s]", msgs, contosoID)
	}
}

func TestEntraAccessLog(t *testing.T) {
	w := newEntraWorld(t)
	rec := w.finishedRun(t)
	tok := w.token(t, contosoApp, contosoSP, RoleReadTenant)
	w.do(t, http.MethodGet, "/api/entra/reports/"+rec.RunID+"/tenants/"+fabrikamID+"/download", "", bearer(tok)...)
	// The same token with one character of its signature changed.
	forged := []byte(tok)
	i := strings.LastIndexByte(tok, '.') + 10
	forged[i] = map[bool]byte{true: 'B', false: 'A'}[forged[i] == 'A']
	w.do(t, http.MethodGet, "/api/entra/reports", "", bearer(string(forged))...)
	logs := w.log.String()
	var access []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, entraLogLine) {
			access = append(access, l)
		}
	}
	if len(access) != 2 {
		t.Fatalf("access log lines = %q, want one per request", access)
	}
	for _, want := range []string{"caller_app_id=" + contosoApp, "run_id=" + rec.RunID, "tenant_id=" + fabrikamID, "status=403",
		"route=/api/entra/reports/{runId}/tenants/{tenantId}/download"} {
		if !strings.Contains(access[0], want) {
			t.Errorf("access log %q lacks %s", access[0], want)
		}
	}
	if !strings.Contains(access[1], "status=401") || !strings.Contains(access[1], "signature does not verify") {
		t.Errorf("refused request's log %q lacks status=401 and why", access[1])
	}
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	if strings.Contains(logs, sig) || strings.Contains(logs, tok[:strings.IndexByte(tok, '.')]) {
		t.Errorf("the logs hold a token part:\n%s", logs)
	}
}

func TestEntraRoutesOff(t *testing.T) {
	w := newAPIWorld(t)
	r := w.do(t, http.MethodGet, "/api/entra/reports", "")
	if code, msg := r.apiErr(t); r.status != http.StatusNotFound || code != "notConfigured" || !strings.Contains(msg, "REPORT_API_CLIENT_ID") {
		t.Errorf("GET /api/entra/reports without the API configured = %d %s %q, want 404 notConfigured naming REPORT_API_CLIENT_ID", r.status, code, msg)
	}
}

func TestOperatorTenantDownload(t *testing.T) {
	w := newAPIWorld(t)
	rec, err := w.runner.Run(t.Context(), run.Request{Trigger: "timer"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/api/reports/" + rec.RunID + "/tenants/" + fabrikamID + "/download", http.StatusOK},
		{"/api/reports/latest/tenants/" + strings.ToUpper(fabrikamID) + "/download", http.StatusOK},
		{"/api/reports/" + rec.RunID + "/tenants/not-a-guid/download", http.StatusBadRequest},
		{"/api/reports/" + rec.RunID + "/tenants/11111111-2222-4333-8444-555555555555/download", http.StatusNotFound},
	} {
		r := w.do(t, http.MethodGet, c.path, "")
		if r.status != c.status {
			t.Errorf("GET %s = %d %s, want %d", c.path, r.status, r.body, c.status)
			continue
		}
		if c.status == http.StatusOK && !bytes.Equal(r.body, runtest.Blob(t, w.store, tenantOf(t, rec, fabrikamID).Report)) {
			t.Errorf("GET %s: not Fabrikam's stored workbook", c.path)
		}
	}
}

func tenantIDs(rec run.Record) []string {
	var ids []string
	for _, t := range rec.Tenants {
		ids = append(ids, t.TenantID)
	}
	return ids
}

func tenantOf(t *testing.T, rec run.Record, id string) run.TenantResult {
	t.Helper()
	tr, ok := rec.Tenant(id)
	if !ok || tr.Report == "" {
		t.Fatalf("run %s has no workbook of tenant %s: %+v", rec.RunID, id, tr)
	}
	return tr
}
