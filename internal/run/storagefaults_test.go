package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/runtest"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// The storage fault tests stop and start a private Azurite of their own
// (azuritetest.StartServer) while a run executes: connections are really
// refused, and what was written before is there again after the restart.
// Each test has its own, so they run in parallel.

// testRetry is the blob client's retry in these tests: bounded like
// production's (handler's storageRetry), with delays short enough for a
// test. Each request is tried testRetry.MaxRetries+1 times.
var testRetry = policy.RetryOptions{MaxRetries: 2, RetryDelay: 20 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond, TryTimeout: 10 * time.Second}

// countingTransport sends requests with a client of its own and counts the
// tries of each blob, by the path of the request's URL.
type countingTransport struct {
	c     *http.Client
	mu    sync.Mutex
	tries map[string]int
}

func (c *countingTransport) Do(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.tries[req.URL.Path]++
	c.mu.Unlock()
	return c.c.Do(req)
}

// triesOf sums the tries of the blobs whose path contains part.
func (c *countingTransport) triesOf(part string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for p, k := range c.tries {
		if strings.Contains(p, part) {
			n += k
		}
	}
	return n
}

// hookedStore is the Azurite store, with a hook called after each upload
// with the record being written (nil for a workbook), how long the upload
// took and its error. The hook runs in the uploading goroutine.
type hookedStore struct {
	*reportstore.Store
	after func(name string, rec *Record, took time.Duration, err error)
}

func (h *hookedStore) Upload(ctx context.Context, name string, r io.Reader) error {
	var rec *Record
	if strings.HasPrefix(name, recordPrefix) {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		rec = new(Record)
		if err := json.Unmarshal(b, rec); err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	start := time.Now()
	err := h.Store.Upload(ctx, name, r)
	if h.after != nil {
		h.after(name, rec, time.Since(start), err)
	}
	return err
}

// faultWorld is a private Azurite, a store on it whose tries are counted,
// and a runner of one tenant writing to it.
type faultWorld struct {
	srv   *azuritetest.Server
	store *reportstore.Store
	hooks *hookedStore
	tr    *countingTransport
	r     *Runner
}

func newFaultWorld(t *testing.T, c Collector) *faultWorld {
	t.Helper()
	srv := azuritetest.StartServer(t)
	tr := &countingTransport{c: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, tries: map[string]int{}}
	t.Cleanup(tr.c.CloseIdleConnections)
	opts := &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: tr, Retry: testRetry}}
	st, err := reportstore.NewFromConnectionString(srv.ConnectionString(), azuritetest.Container(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureContainer(t.Context()); err != nil {
		t.Fatal(err)
	}
	hooks := &hookedStore{Store: st}
	r := &Runner{Tenants: tenants[:1], Collector: c, Store: hooks, Sections: []string{"users"}, Parallel: 1,
		SpoolDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		RecordRetry: Backoff{Delay: 50 * time.Millisecond, MaxDelay: 500 * time.Millisecond, For: 2 * time.Minute}}
	return &faultWorld{srv: srv, store: st, hooks: hooks, tr: tr, r: r}
}

// runResult is what Run returned, for a run in a goroutine of its own.
type runResult struct {
	rec Record
	err error
}

func (w *faultWorld) start(ctx context.Context, req Request) <-chan runResult {
	done := make(chan runResult, 1)
	go func() {
		rec, err := w.r.Run(ctx, req)
		done <- runResult{rec, err}
	}()
	return done
}

// wait receives from ch, failing the test if ctx ends first.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-t.Context().Done():
		t.Fatalf("test ended waiting for %s", what)
		panic("unreachable")
	}
}

// signal closes ch once, however often it is called.
func signal(once *sync.Once, ch chan struct{}) { once.Do(func() { close(ch) }) }

// noWorkbook asserts that the store holds no workbook: neither listed (a
// list shows committed blobs only) nor found by name.
func (w *faultWorld) noWorkbook(t *testing.T, name string) {
	t.Helper()
	if names := runtest.Names(t, w.store, "reports/"); len(names) != 0 {
		t.Errorf("workbooks stored = %q, want none", names)
	}
	if it, err := w.store.Stat(t.Context(), name); !errors.Is(err, reportstore.ErrNotFound) {
		t.Errorf("Stat(%q) = %+v, %v; want ErrNotFound", name, it, err)
	}
}

// TestStorageDownAtUpload: storage goes away after collection began and
// is still away when the workbook is uploaded. The upload makes its
// bounded tries and the run fails; once storage is back, the stored record
// says failed, naming the upload, and there is no workbook (its staged
// blocks were never committed).
func TestStorageDownAtUpload(t *testing.T) {
	t.Parallel() // each has an Azurite of its own
	collecting, resume := make(chan struct{}), make(chan struct{})
	w := newFaultWorld(t, collectorFunc(func(ctx context.Context, tn settings.Tenant, _ []string, emit func(string, any) error) (graphdata.Result, error) {
		close(collecting)
		select { // the test stops storage meanwhile
		case <-resume:
		case <-ctx.Done():
			return graphdata.Result{}, ctx.Err()
		}
		return fakeDirectory(50)(ctx, tn, nil, emit)
	}))
	var (
		uploadFailed, recordFailed = make(chan struct{}), make(chan struct{})
		uploadOnce, recordOnce     sync.Once
		uploadTook                 time.Duration
		failedSaves                int
	)
	w.hooks.after = func(name string, rec *Record, took time.Duration, err error) {
		switch {
		case rec == nil && err != nil:
			uploadTook = took
			signal(&uploadOnce, uploadFailed)
		case rec != nil && rec.State == StateFailed && err != nil:
			failedSaves++
			signal(&recordOnce, recordFailed)
		}
	}
	req := Request{RunID: newRunID(time.Now()), Trigger: "test", Requested: time.Now()}
	done := w.start(t.Context(), req)

	wait(t, collecting, "collection to begin")
	w.srv.Stop()
	close(resume)
	wait(t, uploadFailed, "the workbook upload to fail")
	wait(t, recordFailed, "the failed run's record to fail to save")
	w.srv.Start()
	res := wait(t, done, "the run to end")

	workbook := ReportName(req.Requested, req.RunID)
	if res.err == nil || !errors.Is(res.err, reportstore.ErrUnreachable) || !strings.Contains(res.err.Error(), "upload "+workbook) {
		t.Errorf("Run = %v, want an error wrapping ErrUnreachable naming the upload of %s", res.err, workbook)
	}
	// One block, tried MaxRetries+1 times: the client's retries are bounded.
	if got, want := w.tr.triesOf("/reports/"), int(testRetry.MaxRetries)+1; got != want {
		t.Errorf("tries of the workbook upload = %d, want %d", got, want)
	}
	t.Logf("workbook upload: %d tries in %v, then failed; failed record saved after %d failed tries",
		w.tr.triesOf("/reports/"), uploadTook.Round(time.Millisecond), failedSaves)

	stored, err := ReadRecord(t.Context(), w.store, req.RunID)
	if err != nil {
		t.Fatalf("ReadRecord after restart = %v", err)
	}
	if stored.State != StateFailed || !strings.Contains(stored.Reason, "upload "+workbook) || !strings.Contains(stored.Reason, "unreachable") {
		t.Errorf("stored record = %s, reason %q; want failed, naming the upload of %s and storage unreachable", stored.State, stored.Reason, workbook)
	}
	if stored.Report != "" || stored.ReportBytes != 0 || stored.Finished.IsZero() {
		t.Errorf("stored record: report %q (%d bytes), finished %v; want no report, a finish time", stored.Report, stored.ReportBytes, stored.Finished)
	}
	azuritetest.NoSecrets(t, "Run's error", res.err.Error())
	azuritetest.NoSecrets(t, "the record's reason", stored.Reason)
	w.noWorkbook(t, workbook)
}

// TestStorageDownAtStart: with storage unreachable when the run starts,
// the run fails at once with one error that says so and names the
// endpoint, never the key, and writes nothing: no tenant is read, no
// record or workbook appears once storage is back.
func TestStorageDownAtStart(t *testing.T) {
	t.Parallel() // each has an Azurite of its own
	collected := false
	w := newFaultWorld(t, collectorFunc(func(context.Context, settings.Tenant, []string, func(string, any) error) (graphdata.Result, error) {
		collected = true
		return graphdata.Result{}, nil
	}))
	w.srv.Stop()
	start := time.Now()
	rec, err := w.r.Run(t.Context(), Request{Trigger: "timer"})
	took := time.Since(start)
	if !errors.Is(err, reportstore.ErrUnreachable) {
		t.Fatalf("Run = %v, want an error wrapping ErrUnreachable", err)
	}
	msg := err.Error()
	t.Logf("Run failed in %v after %d tries: %s", took.Round(time.Millisecond), w.tr.triesOf("/runs/"), msg)
	if !strings.Contains(msg, w.srv.BlobEndpoint()) || !strings.Contains(msg, "run record not written") {
		t.Errorf("Run = %q, want it to say the run record was not written, naming the endpoint %s", msg, w.srv.BlobEndpoint())
	}
	azuritetest.NoSecrets(t, "Run's error", msg)
	if got, want := w.tr.triesOf("/runs/"), int(testRetry.MaxRetries)+1; got != want {
		t.Errorf("tries of the record = %d, want %d", got, want)
	}
	if collected || rec.State != StateFailed || rec.Reason != msg || rec.TenantsDone != 0 {
		t.Errorf("collected = %v, record %s (%q) with %d tenants done; want nothing read, the record failed with the error", collected, rec.State, rec.Reason, rec.TenantsDone)
	}

	if left, err := os.ReadDir(w.r.SpoolDir); err != nil || len(left) != 0 {
		t.Errorf("spool directory = %v, %v; want nothing spooled", left, err)
	}
	w.srv.Start()
	if items, err := w.store.List(t.Context(), ""); err != nil || len(items) != 0 {
		t.Errorf("List after restart = %v, %v; want nothing written", items, err)
	}
}

// TestStorageDownAfterWorkbook: storage goes away between the workbook's
// upload and the final record's. The run keeps trying the record (bounded
// by Runner.RecordRetry) and, once storage is back, writes it: the record
// names the complete workbook, as a reader expects of a finished run.
func TestStorageDownAfterWorkbook(t *testing.T) {
	t.Parallel() // each has an Azurite of its own
	w := newFaultWorld(t, fakeDirectory(50))
	var (
		uploaded, resume, finalFailed = make(chan struct{}), make(chan struct{}), make(chan struct{})
		finalOnce                     sync.Once
		finalTries, finalFailures     int
	)
	w.hooks.after = func(name string, rec *Record, _ time.Duration, err error) {
		switch {
		case rec == nil && err == nil:
			close(uploaded)
			<-resume // the test stops storage before the record is written
		case rec != nil && rec.State.Finished():
			finalTries++
			if err != nil {
				finalFailures++
				signal(&finalOnce, finalFailed)
			}
		}
	}
	req := Request{RunID: newRunID(time.Now()), Trigger: "test", Requested: time.Now()}
	done := w.start(t.Context(), req)

	wait(t, uploaded, "the workbook upload")
	w.srv.Stop()
	close(resume)
	wait(t, finalFailed, "the final record to fail to save")
	restart := time.Now()
	w.srv.Start()
	res := wait(t, done, "the run to end")
	t.Logf("final record: %d tries, %d failed; written %v after storage was started again",
		finalTries, finalFailures, time.Since(restart).Round(time.Millisecond))

	if res.err != nil {
		t.Fatalf("Run = %v, want success once storage is back", res.err)
	}
	if finalTries < 2 || finalFailures != finalTries-1 {
		t.Errorf("final record: %d tries, %d failed; want failures while storage was down, then one success", finalTries, finalFailures)
	}
	workbook := ReportName(req.Requested, req.RunID)
	stored, err := ReadRecord(t.Context(), w.store, req.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.State != StateSucceeded || stored.Report != workbook || stored.TenantsDone != 1 || stored.Finished.IsZero() {
		t.Errorf("stored record = %s, report %q, %d tenants done; want succeeded, %s, 1", stored.State, stored.Report, stored.TenantsDone, workbook)
	}
	it, err := w.store.Stat(t.Context(), workbook)
	if err != nil || it.Size != stored.ReportBytes {
		t.Fatalf("Stat(%s) = %d bytes, %v; want the record's %d", workbook, it.Size, err, stored.ReportBytes)
	}
	assertWorkbookRows(t, w.store, workbook, 1+50)
}

// TestStorageDownAfterWorkbookGivesUp: storage stays away past
// Runner.RecordRetry. The run ends with an error that says the workbook
// was uploaded but its record was not, so `handler run` exits non-zero and
// the timer invocation fails; the workbook is complete.
func TestStorageDownAfterWorkbookGivesUp(t *testing.T) {
	t.Parallel() // each has an Azurite of its own
	w := newFaultWorld(t, fakeDirectory(5))
	w.r.RecordRetry = Backoff{Delay: 20 * time.Millisecond, MaxDelay: 50 * time.Millisecond, For: 300 * time.Millisecond}
	uploaded, resume := make(chan struct{}), make(chan struct{})
	w.hooks.after = func(_ string, rec *Record, _ time.Duration, err error) {
		if rec == nil && err == nil {
			close(uploaded)
			<-resume
		}
	}
	req := Request{RunID: newRunID(time.Now()), Trigger: "test", Requested: time.Now()}
	start := time.Now()
	done := w.start(t.Context(), req)
	wait(t, uploaded, "the workbook upload")
	w.srv.Stop()
	close(resume)
	res := wait(t, done, "the run to end")
	t.Logf("gave up after %v: %v", time.Since(start).Round(time.Millisecond), res.err)

	workbook := ReportName(req.Requested, req.RunID)
	if !errors.Is(res.err, reportstore.ErrUnreachable) || !strings.Contains(res.err.Error(), workbook+" uploaded, but its run record not written") {
		t.Errorf("Run = %v, want ErrUnreachable, saying %s was uploaded but the record not written", res.err, workbook)
	}
	if res.rec.Report != workbook || !res.rec.State.Finished() {
		t.Errorf("returned record: %s, report %q; want finished, naming %s", res.rec.State, res.rec.Report, workbook)
	}
	azuritetest.NoSecrets(t, "Run's error", res.err.Error())
	w.srv.Start()
	assertWorkbookRows(t, w.store, workbook, 1+5)
}

// TestStorageDownAtTenantWorkbooks: storage goes away once the combined
// workbook is stored, before the tenants' own. The first tenant's upload
// makes its bounded tries; the others are not tried (each would wait as
// long for nothing). Once storage is back the record is written: partial,
// naming the combined workbook and saying which tenants have none and why.
func TestStorageDownAtTenantWorkbooks(t *testing.T) {
	t.Parallel() // each has an Azurite of its own
	w := newFaultWorld(t, fakeDirectory(5))
	w.r.Tenants, w.r.TenantWorkbooks = []settings.Tenant{tenants[0], tenants[1]}, true // northwind and Contoso
	req := Request{RunID: newRunID(time.Now()), Trigger: "test", Requested: time.Now()}
	workbook := ReportName(req.Requested, req.RunID)
	var (
		uploaded, resume, finalFailed = make(chan struct{}), make(chan struct{}), make(chan struct{})
		finalOnce                     sync.Once
	)
	w.hooks.after = func(name string, rec *Record, _ time.Duration, err error) {
		switch {
		case name == workbook && err == nil:
			close(uploaded)
			<-resume // the test stops storage before the tenants' own
		case rec != nil && rec.State.Finished() && err != nil:
			signal(&finalOnce, finalFailed)
		}
	}
	done := w.start(t.Context(), req)
	wait(t, uploaded, "the combined workbook's upload")
	w.srv.Stop()
	close(resume)
	wait(t, finalFailed, "the final record to fail to save")
	w.srv.Start()
	res := wait(t, done, "the run to end")
	if res.err != nil {
		t.Fatalf("Run = %v, want success once storage is back: the combined workbook is whole", res.err)
	}

	// Contoso is first in report order: its upload was tried, northwind's not.
	if got, want := w.tr.triesOf("/"+req.RunID+"/"), int(testRetry.MaxRetries)+1; got != want {
		t.Errorf("tries of the tenants' own workbooks = %d, want %d: the first tenant's, then none", got, want)
	}
	stored, err := ReadRecord(t.Context(), w.store, req.RunID)
	if err != nil {
		t.Fatal(err)
	}
	want := "tenant workbook not written for 2 of 2 tenants: Contoso, northwind; run: upload " + TenantReportName(req.Requested, req.RunID, contosoID)
	if stored.State != StatePartial || !strings.HasPrefix(stored.Reason, want) || !strings.Contains(stored.Reason, "unreachable") ||
		stored.Report != workbook {
		t.Errorf("stored record = %s %q, report %q; want partial, %q…unreachable, %s", stored.State, stored.Reason, stored.Report, want, workbook)
	}
	for _, tr := range stored.Tenants {
		if tr.Report != "" {
			t.Errorf("%s's own workbook = %q, want none", tr.DisplayName, tr.Report)
		}
	}
	azuritetest.NoSecrets(t, "the record's reason", stored.Reason)
	if names := runtest.Names(t, w.store, "reports/"); !slices.Equal(names, []string{workbook}) {
		t.Errorf("stored workbooks = %q, want the combined one only", names)
	}
	assertWorkbookRows(t, w.store, workbook, 1+2*5)
}

// assertWorkbookRows opens the stored workbook name and checks that its
// Users sheet has rows rows: the workbook is complete.
func assertWorkbookRows(t *testing.T, s *reportstore.Store, name string, rows int) {
	t.Helper()
	got, err := runtest.Workbook(t, s, name).GetRows("Users")
	if err != nil || len(got) != rows {
		t.Errorf("workbook %s: Users has %d rows, %v; want %d", name, len(got), err, rows)
	}
}
