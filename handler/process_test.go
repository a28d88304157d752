package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/customhandler"
	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/runtest"
)

// processWorld is the Functions host's side of the process-fault tests:
// the sample world on the emulator, with Fabrikam's Graph answering each
// request after a second, so a run is caught with Contoso (and the
// unconsented Northwind) done and Fabrikam in flight; storage on Azurite;
// and a spool directory the test can look into.
type processWorld struct {
	world *emulator.World
	env   []string
	store *reportstore.Store
	queue *azqueue.QueueClient
	spool string // TMPDIR of the handler processes: their spool directories
}

// fabrikamLatency is long enough that Fabrikam is still being read well
// after Contoso is done (two sequential requests at least: its users take
// two pages), and short enough that a whole run takes a few seconds.
const fabrikamLatency = time.Second

func newProcessWorld(t *testing.T) *processWorld {
	t.Helper()
	handlerBinary(t) // skip before starting anything
	conn, container := azuritetest.ConnectionString(t), azuritetest.Container(t)
	world := emulator.SampleWorld()
	for i := range world.Tenants {
		if world.Tenants[i].DisplayName == "Fabrikam" {
			world.Tenants[i].Latency = &emulator.Latency{Fixed: emulator.Duration(fabrikamLatency)}
		}
	}
	em, err := emulator.Start(world)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	store, err := reportstore.NewFromConnectionString(conn, container, nil)
	if err != nil {
		t.Fatal(err)
	}
	queue, err := azqueue.NewQueueClientFromConnectionString(conn, customhandler.RunQueue, nil)
	if err != nil {
		t.Fatal(err)
	}
	spool := t.TempDir()
	env := append(emulatorEnv(t, em), "AzureWebJobsStorage="+conn, "REPORT_CONTAINER="+container, "TMPDIR="+spool)
	return &processWorld{world: world, env: env, store: store, queue: queue, spool: spool}
}

// tenantID is the id of the world's tenant named name.
func (pw *processWorld) tenantID(t *testing.T, name string) string {
	t.Helper()
	for _, tn := range pw.world.Tenants {
		if tn.DisplayName == name {
			return tn.ID
		}
	}
	t.Fatalf("no tenant %s in the world", name)
	return ""
}

// queuedRun POSTs body to h's /api/reports as the host forwards it, and
// takes the message it queued, as the queue trigger does.
func (pw *processWorld) queuedRun(t *testing.T, h *handlerProc, body string) (run.Record, *azqueue.DequeuedMessage) {
	t.Helper()
	resp, b, err := h.post(t.Context(), "/api/reports", body)
	if err != nil {
		t.Fatal(err)
	}
	var accepted run.Record
	if err := json.Unmarshal(b, &accepted); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/reports = %d %s\n%s", resp.StatusCode, b, h.logs())
	}
	// The queue is Azurite's, shared with the other tests: take this run's
	// message, put back any other at once (another test's, left in the
	// queue), and delete this one at the end, as the host does once an
	// invocation has succeeded.
	msgs, err := pw.queue.DequeueMessages(t.Context(), &azqueue.DequeueMessagesOptions{NumberOfMessages: to.Ptr(int32(32))})
	if err != nil {
		t.Fatal(err)
	}
	var mine *azqueue.DequeuedMessage
	for _, m := range msgs.Messages {
		text, _ := base64.StdEncoding.DecodeString(*m.MessageText)
		if strings.Contains(string(text), accepted.RunID) {
			mine = m
			continue
		}
		if _, err := pw.queue.UpdateMessage(t.Context(), *m.MessageID, *m.PopReceipt, *m.MessageText, nil); err != nil {
			t.Errorf("putting back another test's message: %v", err)
		}
	}
	if mine == nil {
		t.Fatalf("the queue holds no message of run %s among %d", accepted.RunID, len(msgs.Messages))
	}
	t.Cleanup(func() { pw.queue.DeleteMessage(context.Background(), *mine.MessageID, *mine.PopReceipt, nil) })
	return accepted, mine
}

// invokeQueue POSTs m to h's /ReportQueue as delivery dequeueCount, the
// message and every metadata string or number JSON-encoded twice, as the
// host sends them. It returns the status (0 when the connection broke, as
// when the process is killed) and the reply's Logs.
func invokeQueue(t *testing.T, h *handlerProc, m *azqueue.DequeuedMessage, dequeueCount int) (int, []string) {
	t.Helper()
	text, err := base64.StdEncoding.DecodeString(*m.MessageText)
	if err != nil {
		t.Errorf("message %q is not base64: %v", *m.MessageText, err)
		return 0, nil
	}
	twice := func(v any) string { b, _ := json.Marshal(v); b, _ = json.Marshal(string(b)); return string(b) }
	body := `{"Data":{"` + customhandler.QueueBinding + `":` + twice(string(text)) + `},"Metadata":{` +
		`"DequeueCount":` + twice(dequeueCount) + `,"Id":` + twice(*m.MessageID) + `,"PopReceipt":` + twice(*m.PopReceipt) +
		`,"InsertionTime":` + twice(m.InsertionTime.Format(time.RFC3339)) + `,"ExpirationTime":` + twice(m.ExpirationTime.Format(time.RFC3339)) +
		`,"NextVisibleTime":` + twice(m.TimeNextVisible.Format(time.RFC3339)) +
		`,"sys":{"MethodName":"ReportQueue","UtcNow":` + twice(time.Now().UTC().Format(time.RFC3339Nano)) + `,"RandGuid":` + twice("8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d") + `}}}`
	resp, b, err := h.post(t.Context(), "/ReportQueue", body)
	if err != nil {
		return 0, nil
	}
	var ir customhandler.InvokeResponse
	if err := json.Unmarshal(b, &ir); err != nil {
		t.Errorf("ReportQueue reply %d %q is not an InvokeResponse: %v", resp.StatusCode, b, err)
	}
	return resp.StatusCode, ir.Logs
}

// record reads a run record from storage.
func (pw *processWorld) record(t *testing.T, runID string) run.Record {
	t.Helper()
	rc, err := pw.store.Open(t.Context(), run.RecordName(runID))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var rec run.Record
	if err := json.NewDecoder(rc).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// awaitRunning polls the run's record until it says running with done
// tenants done, and fails the test if the run ends first or the invocation
// replies.
func (pw *processWorld) awaitRunning(t *testing.T, runID string, done int, replied <-chan int) run.Record {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		rec := pw.record(t, runID)
		switch {
		case rec.State == run.StateRunning && rec.TenantsDone == done:
			return rec
		case rec.State.Finished() || rec.TenantsDone > done:
			t.Fatalf("run %s went past %d tenants done before the test caught it: %s %d/%d (Fabrikam too fast?)",
				runID, done, rec.State, rec.TenantsDone, rec.TenantsTotal)
		}
		select {
		case status := <-replied:
			t.Fatalf("ReportQueue replied %d before the run had %d tenants done; record %s %q", status, done, rec.State, rec.Reason)
		case <-t.Context().Done():
			t.Fatalf("run %s never had %d tenants done: %s %d/%d", runID, done, rec.State, rec.TenantsDone, rec.TenantsTotal)
		case <-tick.C:
		}
	}
}

// spools lists the run spool directories in the handlers' TMPDIR.
func (pw *processWorld) spools(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(pw.spool, "tenantreport-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestKilledMidRunRedelivered: the handler is killed (SIGKILL) in the
// middle of an on-demand run. The host redelivers the message to a new
// handler process, whose delivery finds the run record still leased by the
// dead process: it waits for that lease to lapse (the bug was to
// acknowledge the message, leaving the run "running" for ever), then runs
// the request, with its tenants and sections, once. The dead process's
// spool directory is removed by that run, and a further delivery does
// nothing.
func TestKilledMidRunRedelivered(t *testing.T) {
	pw := newProcessWorld(t)
	contoso, fabrikam := pw.tenantID(t, "Contoso"), pw.tenantID(t, "Fabrikam")
	first := startHandler(t, pw.env)
	accepted, msg := pw.queuedRun(t, first, `{"tenants":["`+contoso+`","`+fabrikam+`"],"sections":["tenant","users","licences"]}`)

	replied := make(chan int, 1)
	go func() {
		status, _ := invokeQueue(t, first, msg, 1)
		replied <- status
	}()
	pw.awaitRunning(t, accepted.RunID, 1, replied) // Contoso done, Fabrikam being read
	if got := pw.spools(t); len(got) != 1 {
		t.Fatalf("spool directories while running = %q, want the run's one", got)
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-first.exited
	if status := <-replied; status != 0 {
		t.Errorf("the killed process replied %d", status)
	}
	if rec := pw.record(t, accepted.RunID); rec.State != run.StateRunning {
		t.Fatalf("record after the kill = %s, want running (as the dead process left it)", rec.State)
	}
	if got := pw.spools(t); len(got) != 1 {
		t.Fatalf("spool directories after the kill = %q, want the dead run's one, left behind", got)
	}

	// The message becomes visible again (visibilityTimeout 30 s) and a new
	// handler process gets it: the dead process's lease has not lapsed yet.
	second := startHandler(t, pw.env)
	status, logs := invokeQueue(t, second, msg, 2)
	took := time.Since(killed)
	if status != http.StatusOK || !slices.ContainsFunc(logs, func(l string) bool { return strings.HasPrefix(l, "run "+accepted.RunID+": succeeded") }) {
		t.Fatalf("redelivery = %d %q, want 200 and the run succeeded\n%s", status, logs, second.logs())
	}
	t.Logf("redelivered run finished %s after the kill (the dead process's lease lapses within 15 s)", took.Round(time.Millisecond))
	if !strings.Contains(second.logs(), "previous delivery stopped without finishing") {
		t.Errorf("the new process did not log that it took over a dead delivery:\n%s", second.logs())
	}

	rec := pw.record(t, accepted.RunID)
	var ids []string
	for _, tn := range rec.Tenants {
		ids = append(ids, tn.TenantID)
	}
	slices.Sort(ids)
	want := []string{contoso, fabrikam}
	slices.Sort(want)
	if rec.State != run.StateSucceeded || rec.Attempts != 2 || !slices.Equal(ids, want) || rec.TenantsDone != 2 ||
		!slices.Equal(rec.RequestedSections, []string{"tenant", "users", "licences"}) || rec.Report == "" {
		t.Errorf("record = %s, attempt %d, tenants %q, sections %q, report %q; want succeeded by attempt 2, Contoso and Fabrikam, the requested sections, a report",
			rec.State, rec.Attempts, ids, rec.RequestedSections, rec.Report)
	}
	if got, want := runtest.Names(t, pw.store, "reports/"), workbooksOf(rec); len(want) != 3 || !slices.Equal(got, want) {
		t.Errorf("workbooks = %q, want just %q: the combined one and Contoso's and Fabrikam's own", got, want)
	}
	f := runtest.Workbook(t, pw.store, rec.Report)
	if sheets := f.GetSheetList(); !slices.Equal(sheets, []string{"Overview", "Summary", "Domains", "Users", "Licences", "Run status", "About"}) {
		t.Errorf("sheets = %q, want the requested sections' only", sheets)
	}
	if summary, err := f.GetRows("Summary"); err != nil || len(summary) != 4 {
		t.Errorf("Summary = %d rows (%v), want a header, Contoso, Fabrikam and the totals", len(summary), err)
	}
	if got := pw.spools(t); len(got) != 0 {
		t.Errorf("spool directories after the redelivered run = %q, want none (the dead run's removed, the new run's own too)", got)
	}

	// Delivered once more: acknowledged, nothing run.
	status, logs = invokeQueue(t, second, msg, 3)
	if status != http.StatusOK || !strings.Contains(strings.Join(logs, "\n"), "nothing to do") {
		t.Errorf("third delivery = %d %q, want 200, nothing to do", status, logs)
	}
	if got := runtest.Names(t, pw.store, "reports/"); !slices.Equal(got, workbooksOf(rec)) {
		t.Errorf("workbooks after the third delivery = %q, want the run's, %q", got, workbooksOf(rec))
	}
}

// TestStoppedMidRun: SIGTERM in the middle of an on-demand run cancels it
// at once: the invocation gets a non-2xx reply, the process exits 0 well
// within the platform's 30 s grace, and the run record, left queued for
// the message's redelivery, says what was cut short. The redelivery, to a
// new process, runs it to the end without waiting (the lease was released).
func TestStoppedMidRun(t *testing.T) {
	pw := newProcessWorld(t)
	h := startHandler(t, pw.env)
	accepted, msg := pw.queuedRun(t, h, `{"sections":["tenant","users","licences"]}`)

	replied := make(chan int, 1)
	go func() {
		status, _ := invokeQueue(t, h, msg, 1)
		replied <- status
	}()
	pw.awaitRunning(t, accepted.RunID, 2, replied) // Contoso and Northwind done, Fabrikam being read
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	status := <-replied
	err := <-h.exited
	took := time.Since(stopped)
	t.Logf("SIGTERM to exit: %s (reply %d)", took.Round(time.Millisecond), status)
	if err != nil {
		t.Errorf("handler after SIGTERM: %v, want exit 0 (every invocation recorded its end)\n%s", err, h.logs())
	}
	if took > 10*time.Second {
		t.Errorf("SIGTERM to exit took %s, want well within the 30 s grace", took)
	}
	if status < 300 {
		t.Errorf("ReportQueue reply after SIGTERM = %d, want non-2xx", status)
	}

	rec := pw.record(t, accepted.RunID)
	want := "attempt 1 of 5 did not finish, to be retried: cut short: the handler was stopped (SIGTERM) after 2 of 3 tenants; not collected: Fabrikam"
	if rec.State != run.StateQueued || rec.Reason != want || rec.TenantsDone != 2 || len(rec.Tenants) != 2 || rec.Report != "" {
		t.Errorf("record = %s %q, %d/%d tenants (%d results), report %q;\nwant queued, %q, 2/3 with their results, no report",
			rec.State, rec.Reason, rec.TenantsDone, rec.TenantsTotal, len(rec.Tenants), rec.Report, want)
	}
	if got := runtest.Names(t, pw.store, "reports/"); len(got) != 0 {
		t.Errorf("workbooks = %q, want none", got)
	}
	if got := pw.spools(t); len(got) != 0 {
		t.Errorf("spool directories after the stop = %q, want none", got)
	}

	// Redelivered to the next process: it runs at once, to the end.
	next := startHandler(t, pw.env)
	status, logs := invokeQueue(t, next, msg, 2)
	if status != http.StatusOK || !slices.ContainsFunc(logs, func(l string) bool { return strings.HasPrefix(l, "run "+accepted.RunID+": partial") }) {
		t.Fatalf("redelivery = %d %q, want 200 and the run partial (Northwind never consented)\n%s", status, logs, next.logs())
	}
	if rec := pw.record(t, accepted.RunID); rec.Attempts != 2 || rec.TenantsDone != 3 || rec.Reason != "" {
		t.Errorf("record after the redelivery = attempt %d, %d/3 tenants, reason %q; want attempt 2, 3/3, no reason", rec.Attempts, rec.TenantsDone, rec.Reason)
	}
	if strings.Contains(next.logs(), "waiting until it finishes") {
		t.Errorf("the redelivery waited for a lease the stopped process should have released:\n%s", next.logs())
	}
}
