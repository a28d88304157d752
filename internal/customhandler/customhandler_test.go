package customhandler

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/run"
)

// runnerFunc runs every report with the function, whatever the trigger:
// the timer tests' runner.
type runnerFunc func(ctx context.Context, trigger string) (run.Record, error)

func (f runnerFunc) Run(ctx context.Context, req run.Request) (run.Record, error) {
	return f(ctx, req.Trigger)
}

func (f runnerFunc) Deliver(ctx context.Context, req run.Request, _, _ int) (run.Record, error) {
	return f(ctx, req.Trigger)
}

func (f runnerFunc) NewRequest(trigger string, _, _ []string) (run.Request, error) {
	return run.Request{Trigger: trigger}, nil
}

// timerHandler is the handler with r as its runner; the timer routes use
// no store or queue.
func timerHandler(r Runner, log *slog.Logger) http.Handler {
	return New(Config{Runner: r, Logger: log})
}

func TestDecode(t *testing.T) {
	var s string
	for _, in := range []string{`"\"hello\""`, `"hello"`} {
		s = ""
		if err := Decode(json.RawMessage(in), &s); err != nil || s != "hello" {
			t.Errorf("Decode(%s) = %q, %v, want hello", in, s, err)
		}
	}
	// A string whose text is JSON of another type stays a string.
	if err := Decode(json.RawMessage(`"\"1\""`), &s); err != nil || s != "1" {
		t.Errorf(`Decode("\"1\"") = %q, %v, want "1"`, s, err)
	}
	// A queue message whose text is JSON: a string in a string.
	var req run.Request
	if err := Decode(json.RawMessage(`"\"{\\\"runId\\\":\\\"r1\\\",\\\"trigger\\\":\\\"http\\\"}\""`), &req); err != nil || req.RunID != "r1" || req.Trigger != "http" {
		t.Errorf("Decode(string in a string) = %+v, %v; want runId r1, trigger http", req, err)
	}
	if err := Decode(json.RawMessage(`"\"{\\\"runId\\\":\\\"r1\\\"}\""`), &s); err != nil || s != `{"runId":"r1"}` {
		t.Errorf("Decode(string in a string) into a string = %q, %v; want the message text", s, err)
	}
	var n int
	for _, in := range []string{`"1"`, `1`} {
		n = 0
		if err := Decode(json.RawMessage(in), &n); err != nil || n != 1 {
			t.Errorf("Decode(%s) = %d, %v, want 1", in, n, err)
		}
	}
	p := new(string)
	if err := Decode(json.RawMessage(`"null"`), &p); err != nil || p != nil {
		t.Errorf(`Decode("null") = %v, %v, want nil`, p, err)
	}
	var ti TimerInfo
	for _, in := range []string{
		`{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-11-21T06:00:00+00:00","Next":"2026-11-22T06:00:00+00:00","LastUpdated":"2026-11-21T06:00:00.0010010+00:00"},"IsPastDue":true}`,
		`"{\"Schedule\":{\"AdjustForDST\":true},\"ScheduleStatus\":{\"Last\":\"2026-11-21T06:00:00+00:00\",\"Next\":\"2026-11-22T06:00:00+00:00\",\"LastUpdated\":\"2026-11-21T06:00:00.0010010+00:00\"},\"IsPastDue\":true}"`,
	} {
		ti = TimerInfo{}
		if err := Decode(json.RawMessage(in), &ti); err != nil {
			t.Fatalf("Decode(%.30s…) = %v", in, err)
		}
		if !ti.IsPastDue || !ti.Schedule.AdjustForDST || ti.ScheduleStatus == nil ||
			!ti.ScheduleStatus.Next.Equal(time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)) {
			t.Errorf("Decode(%.30s…) = %+v", in, ti)
		}
	}
	if err := Decode(json.RawMessage(`"{\"IsPastDue\":"`), &ti); err == nil {
		t.Errorf("Decode(truncated timer) = nil, want an error")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(`"\"hello\""`)
	f.Add(`{"IsPastDue":true}`)
	f.Add(`"1"`)
	f.Fuzz(func(t *testing.T, in string) {
		var s string
		_ = Decode(json.RawMessage(in), &s)
		var ti TimerInfo
		_ = Decode(json.RawMessage(in), &ti)
	})
}

// timerInvocation is a timer invocation as the host sends it: binding data
// as an object, metadata strings encoded twice.
const timerInvocation = `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},` +
	`"Metadata":{"sys":{"MethodName":"ReportTimer","UtcNow":"\"2026-11-22T06:00:00.0012345Z\"","RandGuid":"\"7c1e7fa4-7d35-4d86-a4a3-3b8e54b5b1b2\""}}}`

// post sends body chunked, without Content-Length, as the host may.
func post(t *testing.T, h http.Handler, path, body string) *http.Response {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path, io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(HeaderInvocationID, "5c6b7f2e-0000-4000-8000-000000000001")
	req.Header.Set(HeaderHostVersion, "4.1042.0")
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if req.ContentLength > 0 {
		t.Fatalf("request had Content-Length %d, want a chunked body", req.ContentLength)
	}
	return resp
}

// readReply decodes the reply, checking it has exactly the contract's keys.
func readReply(t *testing.T, resp *http.Response) InvokeResponse {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		t.Fatalf("reply %q is not a JSON object: %v", body, err)
	}
	if string(keys["Outputs"]) != "{}" || string(keys["ReturnValue"]) != "null" || len(keys) != 3 || !strings.HasPrefix(string(keys["Logs"]), "[") {
		t.Errorf("reply = %s, want {\"Outputs\":{},\"Logs\":[…],\"ReturnValue\":null}", body)
	}
	var r InvokeResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReady(t *testing.T) {
	h := timerHandler(runnerFunc(func(context.Context, string) (run.Record, error) {
		t.Error("GET / ran a report")
		return run.Record{}, nil
	}), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET / = %d, want 200", resp.StatusCode)
	}
}

func TestReportTimer(t *testing.T) {
	var trigger string
	h := timerHandler(runnerFunc(func(_ context.Context, tr string) (run.Record, error) {
		trigger = tr
		return run.Record{Info: run.Info{RunID: "r1", Report: "reports/2026/11/22/r1.xlsx", ReportBytes: 1234}, Tenants: []run.TenantResult{
			{TenantID: "t1", DisplayName: "Contoso", Status: run.StatusOK, Result: graphdata.Result{Users: 250}},
			{TenantID: "t2", DisplayName: "Northwind", Status: run.StatusFailed, Error: "tenantauth: tenant t2: AADSTS700016: not consented"},
		}}, nil
	}), slog.New(slog.NewTextHandler(t.Output(), nil)))
	resp := post(t, h, "/ReportTimer", timerInvocation)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /ReportTimer = %d, want 200", resp.StatusCode)
	}
	r := readReply(t, resp)
	if trigger != "timer" {
		t.Errorf("runner trigger = %q, want timer", trigger)
	}
	logs := strings.Join(r.Logs, "\n")
	for _, want := range []string{"Contoso (t1): ok, 250 users", "Northwind (t2): failed: tenantauth: tenant t2: AADSTS700016", "reports/2026/11/22/r1.xlsx"} {
		if !strings.Contains(logs, want) {
			t.Errorf("Logs = %q, want a line with %q", r.Logs, want)
		}
	}
}

func TestReportTimerDoubleEncodedBinding(t *testing.T) {
	ran := false
	h := timerHandler(runnerFunc(func(context.Context, string) (run.Record, error) { ran = true; return run.Record{}, nil }), slog.New(slog.DiscardHandler))
	body := `{"Data":{"timer":"{\"Schedule\":{\"AdjustForDST\":true},\"ScheduleStatus\":null,\"IsPastDue\":true}"},"Metadata":{}}`
	resp := post(t, h, "/ReportTimer", body)
	if resp.StatusCode != http.StatusOK || !ran {
		t.Errorf("POST /ReportTimer (string-encoded binding) = %d, ran = %v; want 200 and a run", resp.StatusCode, ran)
	}
	readReply(t, resp)
}

func TestReportTimerFailures(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		err    error
		status int
	}{
		{"run fails", timerInvocation, errors.New("run: upload: storage unavailable"), http.StatusInternalServerError},
		{"every tenant fails", timerInvocation, run.ErrAllTenantsFailed, http.StatusBadGateway},
		{"body not json", `{"Data":`, nil, http.StatusBadRequest},
		{"binding malformed", `{"Data":{"timer":"{\"IsPastDue\":"}}`, nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := timerHandler(runnerFunc(func(context.Context, string) (run.Record, error) { return run.Record{}, tt.err }), slog.New(slog.DiscardHandler))
			resp := post(t, h, "/ReportTimer", tt.body)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			r := readReply(t, resp)
			if len(r.Logs) == 0 {
				t.Errorf("Logs = [], want the reason")
			}
		})
	}
}
