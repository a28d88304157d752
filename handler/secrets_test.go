package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/customhandler"
	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/workbook"
)

// TestNoSecretLeaks runs serve over the whole pipeline with the most verbose
// logging there is, a tenant that fails (the sample world's unconsented
// one), a workbook upload that fails and a reports store whose key is
// wrong, and checks that no token, client assertion, IDENTITY_HEADER value,
// SAS signature or storage key reaches the logs, the HTTP replies (and so
// the error texts they carry), the run records, the workbook or the queue.
//
// serve has no log level setting (its slog handler logs at Info), so the
// most verbose log is Info plus the Azure SDK's own log
// (AZURE_SDK_GO_LOGGING=all): every request and response of the managed
// identity, Entra and storage clients, with their headers.
func TestNoSecretLeaks(t *testing.T) {
	conn, container := azuritetest.ConnectionString(t), azuritetest.Container(t)
	em, err := emulator.Start(emulator.SampleWorld())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	accountKey := connStringField(conn, "AccountKey")
	if accountKey == "" {
		t.Fatalf("the Azurite connection string has no AccountKey: %s", maskedConn(conn))
	}
	var raw [64]byte
	_, _ = rand.Read(raw[:])
	wrongKey := base64.StdEncoding.EncodeToString(raw[:])
	secrets := leakPatterns(em.Server.IdentityHeader(), accountKey, wrongKey)

	var found exposure
	env := append(emulatorEnv(t, em), "AzureWebJobsStorage="+conn, "REPORT_CONTAINER="+container, "AZURE_SDK_GO_LOGGING=all")
	store, err := reportstore.NewFromConnectionString(conn, container, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Handler A: good storage. A timer run that succeeds (with a failed
	// tenant), then an on-demand run whose workbook upload fails.
	h := startHandler(t, env)
	c := leakClient{t: t, h: h, found: &found}
	c.call(http.MethodGet, "/", "")

	if resp, _ := c.invoke("ReportTimer", `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /ReportTimer = %d, want 200\nlogs:\n%s", resp.StatusCode, secrets.mask(h.logs()))
	}

	resp, body := c.call(http.MethodPost, "/api/reports", `{"sections":["tenant","users","licences"]}`, "Content-Type", "application/json", "x-functions-key", "not-checked-by-the-handler")
	var accepted run.Record
	if err := json.Unmarshal(body, &accepted); err != nil || resp.StatusCode != http.StatusAccepted || accepted.Requested.IsZero() {
		t.Fatalf("POST /api/reports = %d %s (%v), want 202 and a queued record with its request time", resp.StatusCode, secrets.mask(string(body)), err)
	}
	// Someone else holds a lease on the blob the workbook goes to: the
	// upload fails after every tenant was collected.
	blocked := run.ReportName(accepted.Requested, accepted.RunID)
	if err := store.Upload(t.Context(), blocked, strings.NewReader("not a workbook")); err != nil {
		t.Fatal(err)
	}
	lease, err := store.Lease(t.Context(), blocked, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lease.Release(context.WithoutCancel(t.Context())) })

	text, deleteMessage := leakQueueMessage(t, conn, accepted.RunID)
	found.add("queue message of "+accepted.RunID, text)
	for _, attempt := range []int{1, customhandler.MaxDequeueCount} {
		resp, _ := c.invoke("ReportQueue", leakQueueInvocation(text, attempt))
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("ReportQueue attempt %d with the workbook blob leased = %d, want 500", attempt, resp.StatusCode)
		}
	}
	deleteMessage()

	_, body = c.call(http.MethodGet, "/api/reports", "")
	var page struct{ Runs []run.Summary }
	if err := json.Unmarshal(body, &page); err != nil || len(page.Runs) != 2 {
		t.Fatalf("GET /api/reports = %s (%v), want the timer run and the on-demand run", secrets.mask(string(body)), err)
	}
	for _, s := range page.Runs {
		_, body := c.call(http.MethodGet, "/api/reports/"+s.RunID, "")
		var rec run.Record
		if err := json.Unmarshal(body, &rec); err != nil {
			t.Fatalf("GET /api/reports/%s: %v", s.RunID, err)
		}
		resp, body := c.call(http.MethodGet, "/api/reports/"+s.RunID+"/download", "")
		switch rec.Trigger {
		case "timer":
			failed := slices.IndexFunc(rec.Tenants, func(tr run.TenantResult) bool { return tr.Status == run.StatusFailed && tr.Error != "" })
			if rec.State != run.StatePartial || !rec.HasReport() || failed < 0 {
				t.Errorf("timer run = %s, report %q, tenants %s; want partial with a workbook and a failed tenant", rec.State, rec.Report, secrets.mask(fmt.Sprintf("%+v", rec.Tenants)))
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("timer run download = %d, want 200", resp.StatusCode)
			}
			found.addWorkbook(t, "download of "+s.RunID, body)
		case "http":
			if rec.State != run.StateFailed || rec.HasReport() || rec.Reason == "" {
				t.Errorf("on-demand run = %s, report %q, reason %q; want failed without a workbook, with the reason", rec.State, rec.Report, secrets.mask(rec.Reason))
			}
			if resp.StatusCode != http.StatusConflict {
				t.Errorf("on-demand run download = %d, want 409", resp.StatusCode)
			}
		}
	}
	c.call(http.MethodGet, "/api/reports/latest", "")
	c.call(http.MethodGet, "/api/reports/20261201T060000123Z-000000", "")
	c.call(http.MethodGet, "/api/reports/not-a-run-id", "")
	leakStop(t, h, "handler A", &found)

	// Every object the runs stored: run records, workbooks, the blocked blob.
	items, err := store.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		rc, err := store.Open(t.Context(), it.Name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(it.Name, ".xlsx") {
			found.addWorkbook(t, "blob "+it.Name, b)
		} else {
			found.add("blob "+it.Name, string(b))
		}
	}

	// Handler B: the reports store answers every write with 403 (a wrong,
	// say rotated, key), while the host's storage and its queue work.
	wrongConn := strings.Replace(conn, "AccountKey="+accountKey, "AccountKey="+wrongKey, 1)
	hb := startHandler(t, slices.Concat(env, []string{"REPORT_STORAGE=" + wrongConn, "REPORT_CONTAINER=" + azuritetest.Container(t)}))
	cb := leakClient{t: t, h: hb, found: &found}
	if resp, _ := cb.invoke("ReportTimer", `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`); resp.StatusCode/100 == 2 {
		t.Errorf("POST /ReportTimer with a wrong storage key = %d, want a failure", resp.StatusCode)
	}
	if resp, _ := cb.call(http.MethodPost, "/api/reports", `{}`, "Content-Type", "application/json"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST /api/reports with a wrong storage key = %d, want 503", resp.StatusCode)
	}
	cb.call(http.MethodGet, "/api/reports", "")
	cb.call(http.MethodGet, "/api/reports/latest", "")
	leakStop(t, hb, "handler B", &found)

	// The checks had something to find: tokens were issued, the SDK logged
	// its traffic, and the failures happened.
	m := em.Server.Metrics()
	if m.MITokensIssued == 0 || m.TokensIssued == 0 || len(m.TokenErrors) == 0 {
		t.Errorf("emulator metrics: %d managed-identity tokens, %d Graph tokens, token errors %v; want some of each", m.MITokensIssued, m.TokensIssued, m.TokenErrors)
	}
	all := found.text("handler A stderr") + found.text("handler B stderr")
	for _, want := range []string{"OUTGOING REQUEST", "AADSTS700016", "run failed", "LeaseIdMissing", "AuthorizationFailure"} {
		if !strings.Contains(all, want) {
			t.Errorf("the handlers' logs lack %q: the test did not exercise what it claims", want)
		}
	}

	for _, f := range found.check(secrets) {
		t.Errorf("secret leaked: %s", f)
	}
	t.Logf("checked %d sources (%d bytes) for %d kinds of secret", len(found.sources), found.size(), len(secrets))
}

// leakClient calls a running handler and keeps every reply's status,
// headers and body.
type leakClient struct {
	t     *testing.T
	h     *handlerProc
	found *exposure
}

func (c leakClient) call(method, path, body string, header ...string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.h.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var head strings.Builder
	fmt.Fprintf(&head, "%s\n", resp.Status)
	resp.Header.Write(&head)
	where := "reply to " + method + " " + path
	c.found.add(where+" (headers)", head.String())
	if !strings.HasSuffix(path, "/download") || resp.StatusCode != http.StatusOK {
		c.found.add(where, string(b))
	}
	return resp, b
}

// invoke POSTs an invocation of function as the host sends it.
func (c leakClient) invoke(function, body string) (*http.Response, []byte) {
	c.t.Helper()
	return c.call(http.MethodPost, "/"+function, body, "Content-Type", "application/json",
		customhandler.HeaderInvocationID, "5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", customhandler.HeaderHostVersion, "4.1042.0.0")
}

// leakStop stops h with SIGTERM, as the host does, and keeps all it logged.
func leakStop(t *testing.T, h *handlerProc, name string, found *exposure) {
	t.Helper()
	if err := h.stop(t); err != nil {
		t.Errorf("%s after SIGTERM: %v, want exit 0", name, err)
	}
	found.add(name+" stderr", h.logs())
}

// leakQueueMessage takes the run queue's message of runID and returns its
// text and a func that deletes it, so no other test sees it. Messages of
// others stay invisible for a second only.
func leakQueueMessage(t *testing.T, conn, runID string) (string, func()) {
	t.Helper()
	queue, err := azqueue.NewQueueClientFromConnectionString(conn, customhandler.RunQueue, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := queue.DequeueMessages(t.Context(), &azqueue.DequeueMessagesOptions{NumberOfMessages: to.Ptr(int32(32)), VisibilityTimeout: to.Ptr(int32(1))})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs.Messages {
		text, err := base64.StdEncoding.DecodeString(*m.MessageText)
		if err != nil || !strings.Contains(string(text), runID) {
			continue
		}
		return string(text), func() {
			if _, err := queue.DeleteMessage(t.Context(), *m.MessageID, *m.PopReceipt, nil); err != nil {
				t.Logf("run queue message of %s not deleted: %v", runID, err)
			}
		}
	}
	t.Fatalf("the run queue holds no message of %s", runID)
	return "", nil
}

// leakQueueInvocation is ReportQueue's invocation for a message, delivery
// attempt, with the host's double encoding of strings and numbers.
func leakQueueInvocation(text string, attempt int) string {
	twice := func(v any) string { b, _ := json.Marshal(v); b, _ = json.Marshal(string(b)); return string(b) }
	now := time.Now().UTC()
	return `{"Data":{"` + customhandler.QueueBinding + `":` + twice(text) + `},"Metadata":{` +
		`"DequeueCount":` + twice(attempt) + `,"Id":` + twice("6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9") +
		`,"InsertionTime":` + twice(now.Format(time.RFC3339)) + `,"ExpirationTime":` + twice(now.Add(7*24*time.Hour).Format(time.RFC3339)) +
		`,"sys":{"MethodName":"ReportQueue","UtcNow":` + twice(now.Format(time.RFC3339Nano)) + `,"RandGuid":` + twice("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d") + `}}}`
}

// connStringField returns the value of key in a storage connection string.
func connStringField(conn, key string) string {
	for _, kv := range strings.Split(conn, ";") {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// maskedConn is a connection string with its key masked, for messages.
func maskedConn(conn string) string {
	return regexp.MustCompile(`AccountKey=[^;]*`).ReplaceAllString(conn, "AccountKey=***")
}

// leakPattern is one kind of secret.
type leakPattern struct {
	name string
	re   *regexp.Regexp
}

type leakPatternList []leakPattern

// leakPatterns are the secrets a log, reply, record or workbook must never
// hold: identityHeader is the emulator's IDENTITY_HEADER value, keys are
// storage account keys.
func leakPatterns(identityHeader string, keys ...string) leakPatternList {
	ps := leakPatternList{
		// A JWT: the managed identity's token (the client assertion) and
		// every Graph token the emulator issued. Tokens are not exposed by
		// the emulator; their shape is enough.
		{"JWT", regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`)},
		// Part of one: a base64url JSON object, such as a token cut short.
		{"JWT fragment", regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}`)},
		{"bearer token", regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/-]{16,}`)},
		// The parameter with a value; its bare name in a diagnosis (Entra's
		// AADSTS7000218 names it) is not a secret.
		{"client assertion", regexp.MustCompile(`client_assertion["']?\s*[=:]\s*["']?[A-Za-z0-9_.-]{8,}`)},
		{"SAS signature", regexp.MustCompile(`(?i)\bsig=[^&\s"';]+`)},
		{"AccountKey= setting", regexp.MustCompile(`(?i)AccountKey=[^;\s"]+`)},
		{"SharedKey authorization", regexp.MustCompile(`SharedKey(Lite)?\s+[A-Za-z0-9]+:[A-Za-z0-9+/=]{16,}`)},
		{"IDENTITY_HEADER value", regexp.MustCompile(regexp.QuoteMeta(identityHeader))},
	}
	for i, k := range keys {
		// The key, or an excerpt of it: its first 12 characters on.
		ps = append(ps, leakPattern{fmt.Sprintf("storage account key %d", i+1), regexp.MustCompile(regexp.QuoteMeta(k[:12]) + `[A-Za-z0-9+/=]*`)})
	}
	return ps
}

// mask replaces every secret in s with its kind.
func (ps leakPatternList) mask(s string) string {
	for _, p := range ps {
		s = p.re.ReplaceAllStringFunc(s, func(m string) string { return fmt.Sprintf("‹%s, %d chars›", p.name, len(m)) })
	}
	return s
}

// exposure is everything the handler let out, by where it was seen.
type exposure struct {
	sources []leakSource
}

type leakSource struct{ where, text string }

func (e *exposure) add(where, text string) { e.sources = append(e.sources, leakSource{where, text}) }

// addWorkbook adds the text of a workbook (workbook.Dump) and, since Dump
// shows cells only, the text of every part of its zip.
func (e *exposure) addWorkbook(t *testing.T, where string, b []byte) {
	t.Helper()
	dump, err := workbook.Dump(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		e.add(where+" (not a workbook)", string(b))
		return
	}
	e.add(where+" (workbook.Dump)", dump)
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("%s: %s: %v", where, f.Name, err)
		}
		part, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %s: %v", where, f.Name, err)
		}
		e.add(where+" part "+f.Name, string(part))
	}
}

// text returns the text of the first source named where.
func (e *exposure) text(where string) string {
	for _, s := range e.sources {
		if s.where == where {
			return s.text
		}
	}
	return ""
}

func (e *exposure) size() int {
	n := 0
	for _, s := range e.sources {
		n += len(s.text)
	}
	return n
}

// check returns one line per secret found: where, what, and an excerpt
// around it with every secret masked (by the first kind that matches it).
func (e *exposure) check(ps leakPatternList) []string {
	var out []string
	for _, s := range e.sources {
		var all [][]int // every secret in s, so that no excerpt cuts one in two
		for _, p := range ps {
			all = append(all, p.re.FindAllStringIndex(s.text, -1)...)
		}
		for _, p := range ps {
			locs := p.re.FindAllStringIndex(s.text, -1)
			for i, loc := range locs {
				if i == 3 {
					out = append(out, fmt.Sprintf("%s: %s: and %d more", s.where, p.name, len(locs)-i))
					break
				}
				from, to := max(loc[0]-60, 0), min(loc[1]+60, len(s.text))
				for _, o := range all {
					if o[0] < from && o[1] > from {
						from = o[0]
					}
					if o[0] < to && o[1] > to {
						to = o[1]
					}
				}
				excerpt := ps.mask(s.text[from:to])
				out = append(out, fmt.Sprintf("%s: %s at byte %d: …%s…", s.where, p.name, loc[0], strings.ToValidUTF8(excerpt, "?")))
			}
		}
	}
	return out
}
