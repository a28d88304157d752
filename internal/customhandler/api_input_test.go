package customhandler

import (
	"cmp"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// maxMessage bounds an API error message: a caller's value is quoted in
// part, never echoed whole.
const maxMessage = 300

// goNoise are words of Go's, not the API's, that a message must not show.
var goNoise = []string{"Go value", "Go struct", "runRequestBody", "[]string", "json: "}

// checkBadInput checks an API error reply to bad input: the status and
// code, the parts of the message that say what is wrong, and a message that
// is short and speaks JSON, not Go.
func checkBadInput(t *testing.T, what string, r apiReply, status int, code string, want []string, maxLen int) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s = %d %s, want %d", what, r.status, r.body, status)
	}
	gotCode, msg := r.apiErr(t)
	if gotCode != code {
		t.Errorf("%s = code %q (%s), want %q", what, gotCode, msg, code)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s = message %q, want it to say %q", what, msg, w)
		}
	}
	if len(msg) > maxLen {
		t.Errorf("%s = a message of %d bytes, want at most %d: %.100q…", what, len(msg), maxLen, msg)
	}
	for _, n := range goNoise {
		if strings.Contains(msg, n) {
			t.Errorf("%s = message %q, which speaks Go (%q)", what, msg, n)
		}
	}
}

// TestAPIRejectsBadInput is the bad-input matrix of the reports API beyond
// TestAPICreateRejects, TestAPIListRejects and TestAPIHostileRunIDs: each
// bad query, id or body is a 400 JSON error whose message names the problem
// and quotes (a bounded part of) the value; none reaches storage or the
// queue.
func TestAPIRejectsBadInput(t *testing.T) {
	t.Parallel()
	w := newAPIWorld(t)
	enc := base64.RawURLEncoding.EncodeToString
	long := strings.Repeat("9", 8<<10)
	gets := []struct {
		name   string
		target string // sent verbatim
		code   string
		want   []string
	}{
		{"top overflow", "/api/reports?top=99999999999999999999", "invalidTop", []string{`"99999999999999999999"`, "from 1 to 500"}},
		{"top space", "/api/reports?top=%205", "invalidTop", []string{`" 5"`}},
		{"top hex", "/api/reports?top=0x10", "invalidTop", []string{`"0x10"`}},
		{"top exponent", "/api/reports?top=1e2", "invalidTop", []string{`"1e2"`}},
		{"top nul", "/api/reports?top=%00", "invalidTop", []string{`"\x00"`}},
		{"top very long", "/api/reports?top=" + long, "invalidTop", []string{`"` + long[:40] + `"…`}},
		{"top array syntax", "/api/reports?top[]=5&top=x", "invalidTop", []string{`"x"`}},
		{"continuation very long", "/api/reports?continuation=" + long, "invalidContinuation", []string{`"` + long[:60] + `"…`}},
		{"continuation traversal", "/api/reports?continuation=%2e%2e%2f%2e%2e%2fruns", "invalidContinuation", []string{`"../../runs"`}},
		{"continuation of a path", "/api/reports?continuation=" + enc([]byte("runs/../x")), "invalidContinuation", nil},
		{"continuation padded", "/api/reports?continuation=" + base64.URLEncoding.EncodeToString([]byte("20261201T060000Z-abcde")), "invalidContinuation", nil},
		{"continuation standard alphabet", "/api/reports?continuation=" + strings.ReplaceAll(enc([]byte("20261201T060000Z-abcdef\xfb\xff")), "-", "+"), "invalidContinuation", nil},
		{"id very long", "/api/reports/" + long, "invalidRunId", []string{`"` + long[:60] + `"…`}},
		{"id very long download", "/api/reports/" + long + "/download", "invalidRunId", nil},
		{"id double-encoded dots", "/api/reports/%252e%252e/download", "invalidRunId", []string{`"%2e%2e"`}},
		{"id double-encoded slashes", "/api/reports/..%252F..%252Fruns/download", "invalidRunId", nil},
		{"id encoded traversal", "/api/reports/%2e%2e%2f%2e%2e%2fruns%2fx.json", "invalidRunId", nil},
		{"id dot and encoded dot", "/api/reports/.%2e/download", "invalidRunId", nil},
		{"id encoded slash alone", "/api/reports/%2F", "invalidRunId", nil},
		{"latest with nul", "/api/reports/latest%00", "invalidRunId", []string{`"latest\x00"`}},
		{"latest upper case", "/api/reports/LATEST/download", "invalidRunId", []string{`"LATEST"`, `or "latest"`}},
		{"latest traversal", "/api/reports/latest%2F..%2F..%2Fx/download", "invalidRunId", nil},
		{"id with encoded traversal after", "/api/reports/20261201T060000Z-abcdef%2F..%2F..%2Fx/download", "invalidRunId", nil},
		{"id with parameter", "/api/reports/20261201T060000Z-abcdef;x=1", "invalidRunId", nil},
		{"id of a blob name", "/api/reports/runs%2F20261201T060000Z-abcdef.json", "invalidRunId", nil},
		{"id tilde", "/api/reports/~/download", "invalidRunId", nil},
		{"id invalid utf-8", "/api/reports/%ff%fe/download", "invalidRunId", []string{`"%ff%fe"`}},
	}
	posts := []struct {
		name, body string
		code       string
		want       []string
		maxLen     int // of the message, when not maxMessage
	}{
		{"byte order mark", "\ufeff{}", "invalidBody", []string{"byte order mark (U+FEFF)"}, 0},
		{"tenants string", `{"tenants":"` + apiTenants[0].ID + `"}`, "invalidBody", []string{`"tenants" is a JSON string, want a list`}, 0},
		{"tenants numbers", `{"tenants":[1]}`, "invalidBody", []string{`"tenants" is a JSON number, want a string`}, 0},
		{"sections object", `{"sections":{"users":true}}`, "invalidBody", []string{`"sections" is a JSON object, want a list`}, 0},
		{"array body", `[{"sections":["users"]}]`, "invalidBody", []string{"the value is a JSON array, want an object"}, 0},
		{"string body", `"users"`, "invalidBody", []string{"the value is a JSON string, want an object"}, 0},
		{"truncated", `{"sections":["us`, "invalidBody", []string{"ends too early"}, 0},
		{"null tenant", `{"tenants":[null]}`, "invalidRequest", []string{"tenants[0]"}, 0},
		{"empty tenant", `{"tenants":[""]}`, "invalidRequest", []string{"tenants[0]"}, 0},
		{"traversal tenant", `{"tenants":["../../runs"]}`, "invalidRequest", []string{"tenants[0]", "../../runs"}, 0},
		{"section of another case", `{"sections":["users","Devices ","x"]}`, "invalidRequest", []string{"sections[2]", "got x"}, 0},
		{"long section", `{"sections":["` + strings.Repeat("s", 8<<10) + `"]}`, "invalidRequest", []string{"sections[0]"}, 0},
		{"many unknown tenants", `{"tenants":[` + strings.Repeat(`"x",`, 2000) + `"x"]}`, "invalidRequest", []string{"tenants[0]", "tenants[9]", "and 1991 more"}, 1500},
	}
	// The cases run in a group, so that what reached storage and the queue
	// is checked once they are all done.
	t.Run("cases", func(t *testing.T) {
		for _, tt := range gets {
			t.Run("GET "+tt.name, func(t *testing.T) {
				t.Parallel()
				r := w.raw(t, tt.target)
				checkBadInput(t, "GET "+tt.target[:min(len(tt.target), 100)], r, http.StatusBadRequest, tt.code, tt.want, maxMessage)
			})
		}
		for _, tt := range posts {
			t.Run("POST "+tt.name, func(t *testing.T) {
				t.Parallel()
				r := w.do(t, http.MethodPost, "/api/reports", tt.body, "Content-Type", "application/json")
				checkBadInput(t, "POST /api/reports "+tt.name, r, http.StatusBadRequest, tt.code, tt.want, cmp.Or(tt.maxLen, maxMessage))
			})
		}
	})
	t.Logf("%d bad API inputs", len(gets)+len(posts))
	if names := w.recorder.seen(); len(names) != 0 {
		t.Errorf("rejected requests reached storage: %q", names)
	}
	if msgs := w.take(t); len(msgs) != 0 {
		t.Errorf("rejected requests queued %d messages: %v", len(msgs), msgs)
	}
}

// TestAPICreateHugeBody: a 64 MiB body is refused after reading at most
// the body limit of it.
func TestAPICreateHugeBody(t *testing.T) {
	t.Parallel()
	const huge = 64 << 20
	body := &generated{head: []byte(`{"tenants":["`), tail: []byte(`"]}`), fill: 'a', n: huge}
	h := New(Config{Runner: new(countingRunner), Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/reports", body)
	req.ContentLength = -1
	h.ServeHTTP(rec, req)
	r := apiReply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	checkBadInput(t, "POST /api/reports (64 MiB)", r, http.StatusBadRequest, "bodyTooLarge", []string{"65536 bytes"}, maxMessage)
	if read := body.read.Load(); read > maxBodyBytes+1 {
		t.Errorf("POST /api/reports (64 MiB): the handler read %d bytes of the body, want at most %d", read, maxBodyBytes+1)
	}
}
