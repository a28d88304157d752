package customhandler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/xuri/excelize/v2"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/runtest"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// apiTenants are the configured tenants of the API tests.
var apiTenants = []settings.Tenant{
	{ID: "0c4a9f3e-1111-4a2b-9c3d-5e6f7a8b9c01", DisplayName: "Contoso"},
	{ID: "7d2e5b1a-2222-4c3d-8e4f-6a7b8c9d0e02", DisplayName: "Fabrikam"},
	{ID: "a91f0c6d-3333-4e5f-9a0b-1c2d3e4f5a03", DisplayName: "Northwind"},
}

// apiSections are the enabled sections of the API tests.
var apiSections = []string{"users", "devices"}

// usersPerTenant is how many users apiDirectory serves per tenant.
const usersPerTenant = 4

// apiDirectory serves usersPerTenant users of every tenant in the users
// section and nothing, successfully, in any other.
var apiDirectory = runtest.Collector(func(_ context.Context, t settings.Tenant, sections []string, emit func(string, any) error) (graphdata.Result, error) {
	var res graphdata.Result
	for _, s := range sections {
		sr := graphdata.SectionResult{Section: s, Status: graphdata.SectionOK}
		if s == "users" {
			for i := range usersPerTenant {
				enabled := true
				u := section.User{ID: fmt.Sprintf("%s-%d", t.ID[:8], i), DisplayName: fmt.Sprintf("%s user %d", t.DisplayName, i),
					UserPrincipalName: fmt.Sprintf("user%d@%s.example", i, strings.ToLower(t.DisplayName)), UserType: "Member", AccountEnabled: &enabled}
				if err := emit("users", u); err != nil {
					return res, err
				}
				res.Users++
				res.EnabledUsers++
				sr.Rows++
			}
		}
		res.Sections = append(res.Sections, sr)
	}
	return res, nil
})

// leaseRecords adapts *reportstore.Store to run.Records.
type leaseRecords struct{ *reportstore.Store }

func (s leaseRecords) Lease(ctx context.Context, name string, d time.Duration) (run.Lease, error) {
	l, err := s.Store.Lease(ctx, name, d)
	if err != nil {
		return nil, err // a nil *reportstore.Lease in the interface would not be nil
	}
	return l, nil
}

var _ run.Records = leaseRecords{}

// recordingStore is a real store (Azurite, or a directory for the fuzz
// targets), noting every name and list prefix the handler asks it for.
type recordingStore struct {
	s     Store
	mu    sync.Mutex
	names []string
}

var _ Store = (*recordingStore)(nil)

func (r *recordingStore) note(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, name)
}

func (r *recordingStore) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.names)
}

func (r *recordingStore) Upload(ctx context.Context, name string, rd io.Reader) error {
	r.note(name)
	return r.s.Upload(ctx, name, rd)
}

func (r *recordingStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	r.note(name)
	return r.s.Open(ctx, name)
}

func (r *recordingStore) Stat(ctx context.Context, name string) (reportstore.Item, error) {
	r.note(name)
	return r.s.Stat(ctx, name)
}

func (r *recordingStore) List(ctx context.Context, prefix string) ([]reportstore.Item, error) {
	r.note(prefix)
	return r.s.List(ctx, prefix)
}

// apiWorld is the reports API of one test: a container and a queue of its
// own on Azurite, a real runner, and the handler behind a test server.
type apiWorld struct {
	store    *reportstore.Store // the container, read directly
	queue    *azqueue.QueueClient
	sender   *reportstore.Queue // the queue as the handler sends to it
	runner   *run.Runner
	recorder *recordingStore // what the handler asked storage for
	handler  http.Handler
	srv      *httptest.Server
}

func newAPIWorld(t *testing.T) *apiWorld {
	t.Helper()
	conn, name := azuritetest.ConnectionString(t), azuritetest.Container(t)
	store, err := reportstore.NewFromConnectionString(conn, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureContainer(t.Context()); err != nil {
		t.Fatal(err)
	}
	q, err := reportstore.NewQueueFromConnectionString(conn, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw, err := azqueue.NewQueueClientFromConnectionString(conn, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	w := &apiWorld{store: store, queue: raw, sender: q, recorder: &recordingStore{s: store}}
	w.runner = &run.Runner{Tenants: apiTenants, Sections: apiSections, Collector: apiDirectory, Store: store,
		Records: leaseRecords{store}, Parallel: 2, Logger: log, SpoolDir: t.TempDir(), TenantWorkbooks: true}
	w.handler = New(Config{Runner: w.runner, Store: w.recorder, Queue: q, Logger: log})
	w.srv = httptest.NewServer(w.handler)
	t.Cleanup(w.srv.Close)
	return w
}

// apiReply is a response, read to its end.
type apiReply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request to the API; header holds pairs of names and values.
func (w *apiWorld) do(t *testing.T, method, target, body string, header ...string) apiReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, w.srv.URL+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := w.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return apiReply{status: resp.StatusCode, header: resp.Header, body: b}
}

// raw sends target verbatim in the request line, so that no client cleans
// or re-escapes it.
func (w *apiWorld) raw(t *testing.T, target string) apiReply {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", w.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if dl, ok := t.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, w.srv.Listener.Addr()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiReply{status: resp.StatusCode, header: resp.Header, body: b}
}

// apiErr returns the code and message of an API error reply.
func (r apiReply) apiErr(t *testing.T) (code, message string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("error reply Content-Type = %q, want application/json; charset=utf-8", ct)
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("error reply %q is not {\"error\":{\"code\",\"message\"}}: %v", r.body, err)
	}
	return e.Error.Code, e.Error.Message
}

// decode decodes the reply's JSON body into v.
func (r apiReply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("reply %q: %v", r.body, err)
	}
}

// queued is one message taken from the run queue.
type queued struct {
	id   string
	text string // base64-decoded
}

// take dequeues every visible message of the run queue (up to 32).
func (w *apiWorld) take(t *testing.T) []queued {
	t.Helper()
	n := int32(32)
	resp, err := w.queue.DequeueMessages(t.Context(), &azqueue.DequeueMessagesOptions{NumberOfMessages: &n})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []queued
	for _, m := range resp.Messages {
		b, err := base64.StdEncoding.DecodeString(*m.MessageText)
		if err != nil {
			t.Fatalf("queue message %q is not base64: %v", *m.MessageText, err)
		}
		msgs = append(msgs, queued{id: *m.MessageID, text: string(b)})
	}
	return msgs
}

// putRecord stores rec as the run record of its run.
func (w *apiWorld) putRecord(t *testing.T, rec run.Record) {
	t.Helper()
	if err := w.store.Upload(t.Context(), run.RecordName(rec.RunID), run.EncodeRecord(rec)); err != nil {
		t.Fatal(err)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// queueInvocation is the ReportQueue invocation the host sends for msg:
// the message text and metadata strings as JSON strings.
func queueInvocation(msg queued, dequeueCount int) string {
	return fmt.Sprintf(`{"Data":{"request":%s},"Metadata":{"DequeueCount":"%d","Id":%s}}`,
		jsonString(msg.text), dequeueCount, jsonString(jsonString(msg.id)))
}

func TestAPICreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		body         string
		wantTenants  []string
		wantSections []string
	}{
		{name: "no body"},
		{name: "empty object", body: "{}"},
		{name: "whitespace", body: " \n"},
		{name: "subset", body: fmt.Sprintf(`{"tenants":[%q],"sections":["users"]}`, apiTenants[1].ID),
			wantTenants: []string{apiTenants[1].ID}, wantSections: []string{"users"}},
		{name: "subset as typed", body: fmt.Sprintf(`{"tenants":[" %s ",%q],"sections":["Users","users"]}`, strings.ToUpper(apiTenants[2].ID), apiTenants[2].ID),
			wantTenants: []string{apiTenants[2].ID}, wantSections: []string{"users"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newAPIWorld(t)
			r := w.do(t, http.MethodPost, "/api/reports", tt.body, "Content-Type", "application/json")
			if r.status != http.StatusAccepted {
				t.Fatalf("POST /api/reports %s = %d %s, want 202", tt.body, r.status, r.body)
			}
			var rec run.Record
			r.decode(t, &rec)
			if !run.ValidRunID(rec.RunID) || rec.State != run.StateQueued || rec.Trigger != "http" || rec.Requested.IsZero() {
				t.Errorf("POST /api/reports = %s, want a queued record of a new http run", r.body)
			}
			if !slices.Equal(rec.RequestedTenants, tt.wantTenants) || !slices.Equal(rec.RequestedSections, tt.wantSections) {
				t.Errorf("POST /api/reports %s = requestedTenants %q, requestedSections %q; want %q, %q",
					tt.body, rec.RequestedTenants, rec.RequestedSections, tt.wantTenants, tt.wantSections)
			}
			if loc := r.header.Get("Location"); loc != "/api/reports/"+rec.RunID {
				t.Errorf("Location = %q, want /api/reports/%s", loc, rec.RunID)
			}
			if ra := r.header.Get("Retry-After"); ra == "" {
				t.Errorf("Retry-After is not set; a poller needs to know when to look again")
			}

			msgs := w.take(t)
			if len(msgs) != 1 {
				t.Fatalf("run queue holds %d messages, want 1", len(msgs))
			}
			var req run.Request
			if err := json.Unmarshal([]byte(msgs[0].text), &req); err != nil {
				t.Fatalf("queue message %q is not a run.Request: %v", msgs[0].text, err)
			}
			if req.RunID != rec.RunID || req.Trigger != "http" || !slices.Equal(req.Tenants, tt.wantTenants) || !slices.Equal(req.Sections, tt.wantSections) {
				t.Errorf("queued request = %+v, want run %s with tenants %q and sections %q", req, rec.RunID, tt.wantTenants, tt.wantSections)
			}

			stored, err := run.ReadRecord(t.Context(), w.store, rec.RunID)
			if err != nil {
				t.Fatalf("stored record: %v", err)
			}
			if stored.State != run.StateQueued || !slices.Equal(stored.RequestedTenants, tt.wantTenants) {
				t.Errorf("stored record = %+v, want queued with tenants %q", stored, tt.wantTenants)
			}

			// The Location answers with the same queued run.
			r = w.do(t, http.MethodGet, "/api/reports/"+rec.RunID, "")
			var shown run.Record
			r.decode(t, &shown)
			if r.status != http.StatusOK || shown.RunID != rec.RunID || shown.State != run.StateQueued {
				t.Errorf("GET Location = %d %s, want 200 and the queued run", r.status, r.body)
			}
		})
	}
}

func TestAPICreateRejects(t *testing.T) {
	t.Parallel()
	unknownTenant := "99999999-9999-4999-8999-999999999999"
	tests := []struct {
		name string
		body string
		code string
		// wantMessage are the parts of the message that tell the caller what
		// to fix.
		wantMessage []string
	}{
		{"not json", "tenants=contoso", "invalidBody", nil},
		{"not an object", `["users"]`, "invalidBody", nil},
		{"wrong type", `{"tenants":"` + apiTenants[0].ID + `"}`, "invalidBody", []string{"tenants"}},
		{"unknown field", `{"tenant":["` + apiTenants[0].ID + `"]}`, "invalidBody", []string{`"tenant"`}},
		{"truncated", `{"tenants":[`, "invalidBody", nil},
		{"trailing object", `{"sections":["users"]} {"sections":["devices"]}`, "invalidBody", []string{"after its JSON object"}},
		{"trailing text", `{"sections":["users"]} x`, "invalidBody", []string{"after its JSON object"}},
		{"trailing brace", `{"sections":["users"]}}`, "invalidBody", []string{"after its JSON object"}},
		{"trailing bracket", `{"sections":["users"]}]`, "invalidBody", []string{"after its JSON object"}},
		{"unknown tenant", `{"tenants":["` + unknownTenant + `"]}`, "invalidRequest", []string{"tenants[0]", unknownTenant}},
		{"unknown section", `{"sections":["userz"]}`, "invalidRequest", []string{"sections[0]", "userz", "users, devices"}},
		{"unknown tenant and section", `{"tenants":["` + apiTenants[0].ID + `","contoso"],"sections":["users","mailboxes"]}`,
			"invalidRequest", []string{"tenants[1]", "contoso", "sections[1]", "mailboxes"}},
		{"over 64 KiB", `{"tenants":[]` + strings.Repeat(" ", 64<<10) + `}`, "bodyTooLarge", []string{"65536"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newAPIWorld(t)
			r := w.do(t, http.MethodPost, "/api/reports", tt.body, "Content-Type", "application/json")
			if r.status != http.StatusBadRequest {
				t.Errorf("POST /api/reports %.60q = %d, want 400", tt.body, r.status)
			}
			code, msg := r.apiErr(t)
			if code != tt.code {
				t.Errorf("POST /api/reports %.60q = code %q, want %q (%s)", tt.body, code, tt.code, msg)
			}
			for _, want := range tt.wantMessage {
				if !strings.Contains(msg, want) {
					t.Errorf("POST /api/reports %.60q = message %q, want it to name %q", tt.body, msg, want)
				}
			}
			if loc := r.header.Get("Location"); loc != "" {
				t.Errorf("Location = %q on a rejected request, want none", loc)
			}
			if msgs := w.take(t); len(msgs) != 0 {
				t.Errorf("run queue holds %d messages after a rejected request, want 0: %v", len(msgs), msgs)
			}
			if names := runtest.Names(t, w.store, "runs/"); len(names) != 0 {
				t.Errorf("run records after a rejected request = %q, want none", names)
			}
		})
	}
}

func TestAPIMethodNotAllowed(t *testing.T) {
	t.Parallel()
	w := newAPIWorld(t)
	id := "20261201T060000Z-abcdef"
	tests := []struct {
		method, path string
		allow        string
	}{
		{http.MethodPut, "/api/reports", "GET, POST"},
		{http.MethodDelete, "/api/reports", "GET, POST"},
		{http.MethodPatch, "/api/reports/", "GET, POST"},
		{http.MethodPost, "/api/reports/" + id, "GET"},
		{http.MethodDelete, "/api/reports/" + id, "GET"},
		{http.MethodPut, "/api/reports/latest", "GET"},
		{http.MethodPost, "/api/reports/" + id + "/download", "GET"},
		{http.MethodDelete, "/api/reports/latest/download", "GET"},
		{http.MethodGet, "/ReportQueue", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			t.Parallel()
			r := w.do(t, tt.method, tt.path, "")
			if r.status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", tt.method, tt.path, r.status)
			}
			if allow := r.header.Get("Allow"); allow != tt.allow {
				t.Errorf("%s %s = Allow %q, want %q", tt.method, tt.path, allow, tt.allow)
			}
			if code, msg := r.apiErr(t); code != "methodNotAllowed" || !strings.Contains(msg, tt.method) {
				t.Errorf("%s %s = error %q %q, want methodNotAllowed naming %s", tt.method, tt.path, code, msg, tt.method)
			}
		})
	}
	t.Cleanup(func() {
		if names := w.recorder.seen(); len(names) != 0 {
			t.Errorf("requests of the wrong method reached storage: %q", names)
		}
	})
}

func TestAPINotFound(t *testing.T) {
	t.Parallel()
	w := newAPIWorld(t)
	id := "20261201T060000Z-abcdef"
	tests := []struct{ method, path string }{
		{http.MethodGet, "/api/reports/" + id + "/other"},
		{http.MethodGet, "/api/reports/" + id + "/download/more"},
		{http.MethodGet, "/api/nothing"},
		{http.MethodPost, "/api/nothing"},
		{http.MethodGet, "/api"},
		{http.MethodGet, "/api/report"},
		{http.MethodGet, "/reports"},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			t.Parallel()
			r := w.do(t, tt.method, tt.path, "")
			if r.status != http.StatusNotFound {
				t.Errorf("%s %s = %d, want 404", tt.method, tt.path, r.status)
			}
			if code, msg := r.apiErr(t); code != "notFound" || !strings.Contains(msg, tt.path) {
				t.Errorf("%s %s = error %q %q, want notFound naming the path", tt.method, tt.path, code, msg)
			}
		})
	}
}

// allowedNames are the only names the API may ask storage for: run
// records by valid id, workbooks, and the record list prefix.
var allowedNames = regexp.MustCompile(`^(runs/|runs/[0-9]{8}T[0-9]{6}([0-9]{3})?Z-[0-9a-f]{6}\.json|reports/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{8}T[0-9]{6}([0-9]{3})?Z-[0-9a-f]{6}\.xlsx)$`)

func TestAPIHostileRunIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string // the request-target, sent verbatim
		status int
		code   string // "" when the HTTP server rejects the request itself
	}{
		{"encoded slashes", "/api/reports/..%2F..%2Fsecret/download", http.StatusBadRequest, "invalidRunId"},
		{"encoded dots", "/api/reports/%2e%2e/download", http.StatusBadRequest, "invalidRunId"},
		{"encoded dots show", "/api/reports/%2e%2e", http.StatusBadRequest, "invalidRunId"},
		{"backslashes", `/api/reports/..\..\x`, http.StatusBadRequest, "invalidRunId"},
		{"encoded backslash", "/api/reports/a%5Cb", http.StatusBadRequest, "invalidRunId"},
		{"dot segments", "/api/reports/../../etc/passwd", http.StatusNotFound, "notFound"},
		{"dot segments download", "/api/reports/../runs/x/download", http.StatusNotFound, "notFound"},
		{"absolute form", "http://evil.example/api/reports/x/download", http.StatusBadRequest, "invalidRunId"},
		{"overlong", "/api/reports/" + strings.Repeat("2", 300) + "/download", http.StatusBadRequest, "invalidRunId"},
		{"upper-case hex", "/api/reports/20261201T060000Z-ABCDEF/download", http.StatusBadRequest, "invalidRunId"},
		{"encoded valid id", "/api/reports/20261201T060000Z-abcde%66", http.StatusBadRequest, "invalidRunId"},
		{"id with suffix", "/api/reports/20261201T060000Z-abcdef.json", http.StatusBadRequest, "invalidRunId"},
		{"nul", "/api/reports/%00/download", http.StatusBadRequest, "invalidRunId"},
		// Controls: requests that do reach storage, with clean names.
		{"unknown run", "/api/reports/20261201T060000Z-abcdef/download", http.StatusNotFound, "runNotFound"},
		{"latest", "/api/reports/latest/download", http.StatusNotFound, "runNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newAPIWorld(t)
			r := w.raw(t, tt.target)
			if r.status != tt.status {
				t.Errorf("GET %s = %d %s, want %d", tt.target, r.status, r.body, tt.status)
			}
			if tt.code != "" {
				if code, msg := r.apiErr(t); code != tt.code {
					t.Errorf("GET %s = code %q (%s), want %q", tt.target, code, msg, tt.code)
				}
			}
			names := w.recorder.seen()
			for _, name := range names {
				if !allowedNames.MatchString(name) {
					t.Errorf("GET %s asked storage for %q, want only run records, workbooks and runs/", tt.target, name)
				}
			}
			if tt.code == "invalidRunId" && len(names) != 0 {
				t.Errorf("GET %s with an invalid id asked storage for %q, want nothing", tt.target, names)
			}
		})
	}
}

func TestAPIOnDemandRun(t *testing.T) {
	t.Parallel()
	w := newAPIWorld(t)
	// An older run, still queued: the new run lists before it, and latest
	// passes over it for having no workbook.
	older := "20000101T000000Z-0a0b0c"
	w.putRecord(t, run.QueuedRecord(run.Request{RunID: older, Trigger: "http"}))

	r := w.do(t, http.MethodPost, "/api/reports", "")
	if r.status != http.StatusAccepted {
		t.Fatalf("POST /api/reports = %d %s, want 202", r.status, r.body)
	}
	var rec run.Record
	r.decode(t, &rec)
	id := rec.RunID
	msgs := w.take(t)
	if len(msgs) != 1 {
		t.Fatalf("run queue holds %d messages, want 1", len(msgs))
	}

	// The host delivers the message to ReportQueue.
	resp := post(t, w.handler, "/ReportQueue", queueInvocation(msgs[0], 1))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /ReportQueue = %d, want 200", resp.StatusCode)
	}
	if logs := strings.Join(readReply(t, resp).Logs, "\n"); !strings.Contains(logs, "run "+id+": succeeded, 3 tenants") {
		t.Errorf("ReportQueue logs = %q, want the run's outcome", logs)
	}

	r = w.do(t, http.MethodGet, "/api/reports/"+id, "")
	var done run.Record
	r.decode(t, &done)
	if r.status != http.StatusOK || done.State != run.StateSucceeded || done.TenantsTotal != len(apiTenants) ||
		done.TenantsDone != done.TenantsTotal || done.Attempts != 1 || !done.HasReport() || done.Finished.IsZero() {
		t.Fatalf("GET /api/reports/%s = %d %s, want 200 and a succeeded run of %d tenants with a workbook", id, r.status, r.body, len(apiTenants))
	}

	// A second delivery of the same message finds the run finished.
	resp = post(t, w.handler, "/ReportQueue", queueInvocation(msgs[0], 2))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /ReportQueue again = %d, want 200", resp.StatusCode)
	}
	if logs := strings.Join(readReply(t, resp).Logs, "\n"); !strings.Contains(logs, "finished before") {
		t.Errorf("ReportQueue logs on redelivery = %q, want nothing to do", logs)
	}
	if again, err := run.ReadRecord(t.Context(), w.store, id); err != nil || again.Attempts != 1 || !again.Finished.Equal(done.Finished) {
		t.Errorf("record after redelivery = %+v, %v; want it unchanged", again, err)
	}

	t.Run("list", func(t *testing.T) {
		r := w.do(t, http.MethodGet, "/api/reports", "")
		var page struct {
			Runs []struct {
				RunID        string     `json:"runId"`
				State        run.State  `json:"state"`
				TenantsTotal int        `json:"tenantsTotal"`
				TenantsDone  int        `json:"tenantsDone"`
				TenantCounts run.Counts `json:"tenantCounts"`
				ReportBytes  int64      `json:"reportBytes"`
				URL          string     `json:"url"`
			} `json:"runs"`
			Continuation string `json:"continuation"`
		}
		r.decode(t, &page)
		if r.status != http.StatusOK || len(page.Runs) != 2 || page.Continuation != "" {
			t.Fatalf("GET /api/reports = %d %s, want 200 and 2 runs", r.status, r.body)
		}
		got := page.Runs[0]
		if got.RunID != id || got.State != run.StateSucceeded || got.TenantsDone != 3 || got.TenantsTotal != 3 ||
			got.TenantCounts != (run.Counts{OK: 3}) || got.ReportBytes != done.ReportBytes || got.URL != "/api/reports/"+id {
			t.Errorf("GET /api/reports runs[0] = %+v, want run %s, succeeded, 3 of 3 tenants ok", got, id)
		}
		if page.Runs[1].RunID != older || page.Runs[1].State != run.StateQueued {
			t.Errorf("GET /api/reports runs[1] = %+v, want the older queued run %s", page.Runs[1], older)
		}
	})

	t.Run("download", func(t *testing.T) {
		blob := runtest.Blob(t, w.store, done.Report)
		item, err := w.store.Stat(t.Context(), done.Report)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{"/api/reports/" + id + "/download", "/api/reports/latest/download"} {
			r := w.do(t, http.MethodGet, target, "")
			if r.status != http.StatusOK {
				t.Fatalf("GET %s = %d %s, want 200", target, r.status, r.body)
			}
			h := r.header
			wantDisp := fmt.Sprintf(`attachment; filename="tenantreport-%s-%s.xlsx"`, done.Requested.UTC().Format(time.DateOnly), id)
			for _, c := range []struct{ name, got, want string }{
				{"Content-Type", h.Get("Content-Type"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
				{"Content-Length", h.Get("Content-Length"), fmt.Sprint(len(blob))},
				{"Content-Disposition", h.Get("Content-Disposition"), wantDisp},
				{"ETag", h.Get("ETag"), item.ETag},
				{"Last-Modified", h.Get("Last-Modified"), item.LastModified.UTC().Format(http.TimeFormat)},
			} {
				if c.got != c.want {
					t.Errorf("GET %s = %s %q, want %q", target, c.name, c.got, c.want)
				}
			}
			if !strings.HasPrefix(item.ETag, `"`) {
				t.Errorf("ETag = %q, want a quoted entity tag", item.ETag)
			}
			if !bytes.Equal(r.body, blob) || int64(len(r.body)) != done.ReportBytes {
				t.Errorf("GET %s = %d bytes, want the stored workbook's %d", target, len(r.body), len(blob))
			}
			f, err := excelize.OpenReader(bytes.NewReader(r.body))
			if err != nil {
				t.Fatalf("GET %s: the workbook does not open: %v", target, err)
			}
			rows, err := f.GetRows("Users")
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if want := 1 + len(apiTenants)*usersPerTenant; len(rows) != want {
				t.Errorf("GET %s: Users sheet has %d rows, want header + %d", target, len(rows), want-1)
			}
		}
	})

	t.Run("conditional", func(t *testing.T) {
		item, err := w.store.Stat(t.Context(), done.Report)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			ifNoneMatch string
			status      int
		}{
			{item.ETag, http.StatusNotModified},
			{"W/" + item.ETag, http.StatusNotModified},
			{`"other", ` + item.ETag, http.StatusNotModified},
			{"*", http.StatusNotModified},
			{`"other"`, http.StatusOK},
		}
		for _, tt := range tests {
			for _, target := range []string{"/api/reports/" + id + "/download", "/api/reports/latest/download"} {
				r := w.do(t, http.MethodGet, target, "", "If-None-Match", tt.ifNoneMatch)
				if r.status != tt.status {
					t.Errorf("GET %s If-None-Match %s = %d, want %d", target, tt.ifNoneMatch, r.status, tt.status)
				}
				if tt.status == http.StatusNotModified && (len(r.body) != 0 || r.header.Get("ETag") != item.ETag) {
					t.Errorf("GET %s If-None-Match %s = %d bytes, ETag %q; want no body and ETag %s",
						target, tt.ifNoneMatch, len(r.body), r.header.Get("ETag"), item.ETag)
				}
			}
		}
	})

	t.Run("latest", func(t *testing.T) {
		r := w.do(t, http.MethodGet, "/api/reports/latest", "")
		var got run.Record
		r.decode(t, &got)
		if r.status != http.StatusOK || got.RunID != id {
			t.Errorf("GET /api/reports/latest = %d, run %q; want 200 and run %s", r.status, got.RunID, id)
		}
	})

	for _, name := range w.recorder.seen() {
		if !allowedNames.MatchString(name) {
			t.Errorf("the API asked storage for %q", name)
		}
	}
}

func TestAPIDownloadUnavailable(t *testing.T) {
	t.Parallel()
	t.Run("queued", func(t *testing.T) {
		t.Parallel()
		w := newAPIWorld(t)
		r := w.do(t, http.MethodPost, "/api/reports", "")
		var rec run.Record
		r.decode(t, &rec)
		for _, target := range []string{"/api/reports/" + rec.RunID + "/download", "/api/reports/latest/download"} {
			r = w.do(t, http.MethodGet, target, "")
			var body struct {
				State run.State `json:"state"`
			}
			r.decode(t, &body)
			code, msg := r.apiErr(t)
			switch target {
			case "/api/reports/latest/download":
				// latest is a run with a workbook: a queued one is not it.
				if r.status != http.StatusNotFound || code != "runNotFound" {
					t.Errorf("GET %s = %d %q, want 404 runNotFound", target, r.status, code)
				}
			default:
				if r.status != http.StatusConflict || code != "noWorkbook" || body.State != run.StateQueued || !strings.Contains(msg, "queued") {
					t.Errorf("GET %s = %d %s, want 409 noWorkbook with state queued", target, r.status, r.body)
				}
			}
		}
	})
	t.Run("failed without workbook", func(t *testing.T) {
		t.Parallel()
		w := newAPIWorld(t)
		id := "20261201T060000Z-0f0f0f"
		rec := run.QueuedRecord(run.Request{RunID: id, Trigger: "http"})
		rec.State, rec.Reason = run.StateFailed, "the run request could not be queued"
		w.putRecord(t, rec)
		r := w.do(t, http.MethodGet, "/api/reports/"+id+"/download", "")
		var body struct {
			State run.State `json:"state"`
		}
		r.decode(t, &body)
		if code, _ := r.apiErr(t); r.status != http.StatusConflict || code != "noWorkbook" || body.State != run.StateFailed {
			t.Errorf("GET /api/reports/%s/download = %d %s, want 409 noWorkbook with state failed", id, r.status, r.body)
		}
	})
	t.Run("workbook gone", func(t *testing.T) {
		t.Parallel()
		w := newAPIWorld(t)
		id := "20261201T060000Z-0e0e0e"
		rec := run.QueuedRecord(run.Request{RunID: id, Trigger: "http"})
		rec.State, rec.Report, rec.ReportBytes = run.StateSucceeded, run.ReportName(time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC), id), 1234
		w.putRecord(t, rec)
		r := w.do(t, http.MethodGet, "/api/reports/"+id+"/download", "")
		if code, _ := r.apiErr(t); r.status != http.StatusNotFound || code != "workbookNotFound" {
			t.Errorf("GET /api/reports/%s/download = %d %s, want 404 workbookNotFound", id, r.status, r.body)
		}
	})
	t.Run("unknown run", func(t *testing.T) {
		t.Parallel()
		w := newAPIWorld(t)
		id := "20261201T060000Z-123456"
		for _, target := range []string{"/api/reports/" + id, "/api/reports/" + id + "/download"} {
			r := w.do(t, http.MethodGet, target, "")
			if code, msg := r.apiErr(t); r.status != http.StatusNotFound || code != "runNotFound" || !strings.Contains(msg, id) {
				t.Errorf("GET %s = %d %q %q, want 404 runNotFound naming the run", target, r.status, code, msg)
			}
		}
	})
	t.Run("no runs", func(t *testing.T) {
		t.Parallel()
		w := newAPIWorld(t)
		for _, target := range []string{"/api/reports/latest", "/api/reports/latest/download"} {
			r := w.do(t, http.MethodGet, target, "")
			if code, _ := r.apiErr(t); r.status != http.StatusNotFound || code != "runNotFound" {
				t.Errorf("GET %s = %d %q, want 404 runNotFound", target, r.status, code)
			}
		}
		r := w.do(t, http.MethodGet, "/api/reports", "")
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `"runs": []`) {
			t.Errorf("GET /api/reports = %d %s, want 200 and an empty list", r.status, r.body)
		}
	})
}

// listPage is a page of GET /api/reports.
type listPage struct {
	Runs []struct {
		RunID string    `json:"runId"`
		State run.State `json:"state"`
		URL   string    `json:"url"`
	} `json:"runs"`
	Continuation string `json:"continuation"`
}

var nextLink = regexp.MustCompile(`^<(/api/reports\?[^>]+)>; rel="next"$`)

func TestAPIListPages(t *testing.T) {
	t.Parallel()
	w := newAPIWorld(t)
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("20261201T0600%02dZ-abcdef", i)
		ids = append(ids, id)
		w.putRecord(t, run.QueuedRecord(run.Request{RunID: id, Trigger: "http"}))
	}
	// Blobs under runs/ that are not run records are not runs.
	if err := w.store.Upload(t.Context(), "runs/notes.json", strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}

	var pages [][]string
	target := "/api/reports?top=2"
	for target != "" {
		if len(pages) > len(ids) {
			t.Fatalf("more pages than runs: %q", pages)
		}
		r := w.do(t, http.MethodGet, target, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s, want 200", target, r.status, r.body)
		}
		var page listPage
		r.decode(t, &page)
		var got []string
		for _, s := range page.Runs {
			got = append(got, s.RunID)
			if s.State != run.StateQueued || s.URL != "/api/reports/"+s.RunID {
				t.Errorf("GET %s = run %+v, want queued with its URL", target, s)
			}
		}
		pages = append(pages, got)
		link := r.header.Get("Link")
		if page.Continuation == "" {
			if link != "" {
				t.Errorf("GET %s = Link %q without a continuation, want none", target, link)
			}
			target = ""
			continue
		}
		m := nextLink.FindStringSubmatch(link)
		if m == nil {
			t.Fatalf("GET %s = Link %q, want <…>; rel=\"next\"", target, link)
		}
		if !strings.Contains(m[1], "continuation="+page.Continuation) || !strings.Contains(m[1], "top=2") {
			t.Errorf("GET %s = Link %q, want top=2 and continuation %s", target, link, page.Continuation)
		}
		target = m[1]
	}
	want := [][]string{{ids[4], ids[3]}, {ids[2], ids[1]}, {ids[0]}}
	if !slices.EqualFunc(pages, want, slices.Equal) {
		t.Errorf("GET /api/reports?top=2, following Link = pages %q, want %q", pages, want)
	}

	r := w.do(t, http.MethodGet, "/api/reports", "")
	var all listPage
	r.decode(t, &all)
	var got []string
	for _, s := range all.Runs {
		got = append(got, s.RunID)
	}
	if want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}; !slices.Equal(got, want) || all.Continuation != "" || r.header.Get("Link") != "" {
		t.Errorf("GET /api/reports = %q, continuation %q; want %q, newest first, and no continuation", got, all.Continuation, want)
	}
}

func TestAPIListRejects(t *testing.T) {
	t.Parallel()
	w := newAPIWorld(t)
	enc := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		query string
		code  string
		value string // the bad value, as the message quotes it
	}{
		{"top=0", "invalidTop", "0"},
		{"top=501", "invalidTop", "501"},
		{"top=x", "invalidTop", "x"},
		{"top=-1", "invalidTop", "-1"},
		{"top=1.5", "invalidTop", "1.5"},
		{"continuation=%21%21%21", "invalidContinuation", "!!!"},
		{"continuation=" + enc([]byte("../../etc")), "invalidContinuation", enc([]byte("../../etc"))},
		{"continuation=" + enc([]byte("20261201T060000Z-ABCDEF")), "invalidContinuation", enc([]byte("20261201T060000Z-ABCDEF"))},
		{"top=2&continuation=20261201T060000Z-abcdef", "invalidContinuation", "20261201T060000Z-abcdef"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			r := w.do(t, http.MethodGet, "/api/reports?"+tt.query, "")
			if r.status != http.StatusBadRequest {
				t.Errorf("GET /api/reports?%s = %d, want 400", tt.query, r.status)
			}
			if code, msg := r.apiErr(t); code != tt.code || !strings.Contains(msg, fmt.Sprintf("%q", tt.value)) {
				t.Errorf("GET /api/reports?%s = error %q %q, want %s quoting %q", tt.query, code, msg, tt.code, tt.value)
			}
		})
	}
	t.Cleanup(func() {
		if names := w.recorder.seen(); len(names) != 0 {
			t.Errorf("rejected list requests reached storage: %q", names)
		}
	})
}
