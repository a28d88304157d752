package run

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/runtest"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// blobRecords is the production adapter's shape: the Azurite store, its
// leases as Lease, every record write also sent to written, and every
// lease refused because another holder has it signalled on refused.
type blobRecords struct {
	*reportstore.Store
	written chan Record   // nil: not observed
	refused chan struct{} // nil: not observed
}

func (b *blobRecords) Lease(ctx context.Context, name string, d time.Duration) (Lease, error) {
	l, err := b.Store.Lease(ctx, name, d)
	if errors.Is(err, reportstore.ErrLeased) && b.refused != nil {
		select {
		case b.refused <- struct{}{}:
		default: // the test has not taken the last one yet
		}
	}
	if err != nil {
		return nil, err
	}
	return observedLease{l, b.written}, nil
}

// observedLease passes each record it writes to written as well.
type observedLease struct {
	*reportstore.Lease
	written chan Record
}

func (o observedLease) Upload(ctx context.Context, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := o.Lease.Upload(ctx, strings.NewReader(string(b))); err != nil {
		return err
	}
	if o.written != nil {
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return err
		}
		o.written <- rec
	}
	return nil
}

// newAzuriteRunner returns a runner of tenants on a container of its own.
func newAzuriteRunner(t *testing.T, c Collector) (*Runner, *blobRecords) {
	t.Helper()
	st, err := reportstore.NewFromConnectionString(azuritetest.ConnectionString(t), azuritetest.Container(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureContainer(t.Context()); err != nil {
		t.Fatal(err)
	}
	recs := &blobRecords{Store: st}
	return &Runner{Tenants: tenants, Collector: c, Store: st, Records: recs, Sections: []string{"users"}, Parallel: 1,
		SpoolDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}, recs
}

// queued accepts a request as POST /api/reports does: the record first.
func queued(t *testing.T, r *Runner, tenants, sections []string) Request {
	t.Helper()
	req, err := r.NewRequest("http", tenants, sections)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Store.Upload(t.Context(), RecordName(req.RunID), EncodeRecord(QueuedRecord(req))); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestDeliverRunsOnce(t *testing.T) {
	r, recs := newAzuriteRunner(t, fakeDirectory(4))
	req := queued(t, r, nil, nil)
	rec, err := r.Deliver(t.Context(), req, 1, 5)
	if err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	if rec.State != StatePartial || rec.TenantsDone != 3 || rec.TenantsTotal != 3 || !rec.HasReport() || rec.Attempts != 1 {
		t.Errorf("record = state %s, %d/%d tenants, report %q, attempts %d; want partial (Fabrikam fails), 3/3, a report, 1",
			rec.State, rec.TenantsDone, rec.TenantsTotal, rec.Report, rec.Attempts)
	}
	stored, err := ReadRecord(t.Context(), recs, req.RunID)
	if err != nil || stored.State != StatePartial || stored.Report != rec.Report {
		t.Errorf("stored record = %+v, %v; want the returned one", stored, err)
	}
	// The queue delivers again: acknowledged without work.
	again, err := r.Deliver(t.Context(), req, 2, 5)
	if !errors.Is(err, ErrFinished) || again.State != StatePartial {
		t.Errorf("second Deliver = %s, %v; want ErrFinished with the finished record", again.State, err)
	}
	if got := runtest.Names(t, recs.Store, "reports/"); len(got) != 1 || got[0] != rec.Report {
		t.Errorf("workbooks = %q, want just %s", got, rec.Report)
	}
}

// waitsForLease waits until Deliver's result arrives on done has been
// refused the lease twice, that is, found the record leased and looked
// again instead of returning; it fails the test if Deliver returns first.
func waitsForLease(t *testing.T, recs *blobRecords, done <-chan error) {
	t.Helper()
	for n := 0; n < 2; {
		select {
		case <-recs.refused:
			n++
		case err := <-done:
			t.Fatalf("Deliver of a leased run returned %v, want it to wait for the lease", err)
		}
	}
}

// TestDeliverConcurrent: while one delivery runs (holding the lease), a
// second delivery of the same message waits for it rather than being
// acknowledged (the holder might die), then finds the run finished and
// does nothing; the running record shows progress tenant by tenant.
func TestDeliverConcurrent(t *testing.T) {
	release := make(chan struct{})
	var collected atomic.Int32
	c := collectorFunc(func(ctx context.Context, tn settings.Tenant, _ []string, emit func(string, any) error) (graphdata.Result, error) {
		collected.Add(1)
		if tn.DisplayName == "northwind" {
			select { // the last tenant in configured order: hold the run here
			case <-release:
			case <-ctx.Done():
				return graphdata.Result{}, ctx.Err()
			}
		}
		return graphdata.Result{Sections: []graphdata.SectionResult{{Section: "users", Status: graphdata.SectionOK}}},
			emit("users", section.User{ID: "1", DisplayName: tn.DisplayName + " admin"})
	})
	r, recs := newAzuriteRunner(t, c)
	r.leasePoll = 50 * time.Millisecond
	recs.written, recs.refused = make(chan Record, 16), make(chan struct{}, 1)
	r.Tenants = []settings.Tenant{tenants[1], tenants[2], tenants[0]} // Contoso, Fabrikam, northwind
	req := queued(t, r, nil, nil)

	first := make(chan error, 1)
	go func() {
		_, err := r.Deliver(context.WithoutCancel(t.Context()), req, 1, 5)
		first <- err
	}()
	// Wait for the record that shows two tenants done: the run is inside
	// northwind now, holding the lease.
	for rec := range recs.written {
		if rec.State != StateRunning {
			t.Fatalf("record while running = %s, want running", rec.State)
		}
		if rec.TenantsDone == 2 {
			if rec.TenantsTotal != 3 || len(rec.Tenants) != 2 {
				t.Errorf("running record = %d/%d with %d results, want 2/3 with 2", rec.TenantsDone, rec.TenantsTotal, len(rec.Tenants))
			}
			break
		}
	}
	stored, err := ReadRecord(t.Context(), recs, req.RunID)
	if err != nil || stored.State != StateRunning {
		t.Errorf("GET of the record while running = %s, %v; want running", stored.State, err)
	}
	second := make(chan error, 1)
	go func() {
		_, err := r.Deliver(t.Context(), req, 2, 5)
		second <- err
	}()
	waitsForLease(t, recs, second)
	// The plain upload path cannot overwrite a leased record either.
	if err := r.Store.Upload(t.Context(), RecordName(req.RunID), EncodeRecord(QueuedRecord(req))); !errors.Is(err, reportstore.ErrLeased) {
		t.Errorf("Upload of a leased record = %v, want ErrLeased", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first Deliver = %v", err)
	}
	if err := <-second; !errors.Is(err, ErrFinished) {
		t.Errorf("second Deliver, once the first finished = %v, want ErrFinished", err)
	}
	if n := collected.Load(); n != 3 {
		t.Errorf("tenants collected = %d, want 3 (one run)", n)
	}
	if got := runtest.Names(t, recs.Store, "reports/"); len(got) != 1 {
		t.Errorf("workbooks = %q, want one", got)
	}
	final, err := ReadRecord(t.Context(), recs, req.RunID)
	if err != nil || final.State != StateSucceeded || final.TenantsDone != 3 || final.Attempts != 1 {
		t.Errorf("final record = %s %d/3 attempts %d, %v; want succeeded 3/3 by attempt 1", final.State, final.TenantsDone, final.Attempts, err)
	}
	// Released: nothing holds the record any more.
	l, err := recs.Store.Lease(t.Context(), RecordName(req.RunID), 15*time.Second)
	if err != nil {
		t.Fatalf("Lease after the run = %v, want the lease released", err)
	}
	l.Release(t.Context())
}

// TestDeliverAfterHolderDied: a delivery whose run record is leased by a
// process that died mid-run (the record says running; nobody renews the
// lease) waits until the lease is free, then runs the request once, with
// its tenants and sections.
func TestDeliverAfterHolderDied(t *testing.T) {
	var collected atomic.Int32
	full := fakeDirectory(4)
	c := collectorFunc(func(ctx context.Context, tn settings.Tenant, secs []string, emit func(string, any) error) (graphdata.Result, error) {
		collected.Add(1)
		return full(ctx, tn, secs, emit)
	})
	r, recs := newAzuriteRunner(t, c)
	r.leasePoll = 50 * time.Millisecond
	recs.refused = make(chan struct{}, 1)
	req := queued(t, r, []string{tenants[1].ID}, []string{"users"})
	// What the dead process left: its lease, and the record saying running.
	dead, err := recs.Store.Lease(t.Context(), RecordName(req.RunID), 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	running := QueuedRecord(req)
	running.State, running.Attempts, running.TenantsTotal = StateRunning, 1, 1
	if err := dead.Upload(t.Context(), EncodeRecord(running)); err != nil {
		t.Fatal(err)
	}

	type result struct {
		rec Record
		err error
	}
	done := make(chan result, 1)
	errs := make(chan error, 1)
	go func() {
		rec, err := r.Deliver(t.Context(), req, 2, 5)
		done <- result{rec, err}
		errs <- err
	}()
	waitsForLease(t, recs, errs)
	// The dead holder's lease ends (it lapses; releasing it is the same to
	// Deliver, and 15 s sooner).
	if err := dead.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("Deliver after the holder died = %v", res.err)
	}
	if n := collected.Load(); n != 1 {
		t.Errorf("tenants collected = %d, want 1 (Contoso, once)", n)
	}
	stored, err := ReadRecord(t.Context(), recs, req.RunID)
	if err != nil || stored.State != StateSucceeded || stored.Attempts != 2 || len(stored.Tenants) != 1 ||
		stored.Tenants[0].TenantID != tenants[1].ID || !stored.HasReport() {
		t.Errorf("record = %+v, %v; want succeeded by attempt 2 with Contoso alone and a report", stored, err)
	}
	if got := runtest.Names(t, recs.Store, "reports/"); len(got) != 1 {
		t.Errorf("workbooks = %q, want one", got)
	}
}

// TestDeliverWaitEndsWithContext: the wait for a leased record ends with
// the delivery's context, with its cause, leaving the record as it was.
func TestDeliverWaitEndsWithContext(t *testing.T) {
	r, recs := newAzuriteRunner(t, fakeDirectory(2))
	r.leasePoll = 50 * time.Millisecond
	recs.refused = make(chan struct{}, 1)
	req := queued(t, r, nil, nil)
	holder, err := recs.Store.Lease(t.Context(), RecordName(req.RunID), 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release(context.WithoutCancel(t.Context()))

	ctx, cancel := context.WithCancelCause(t.Context())
	stopped := errors.New("the handler was stopped (SIGTERM)")
	errs := make(chan error, 1)
	go func() {
		_, err := r.Deliver(ctx, req, 1, 5)
		errs <- err
	}()
	waitsForLease(t, recs, errs)
	cancel(stopped)
	if err := <-errs; !errors.Is(err, stopped) || errors.Is(err, ErrFinished) {
		t.Errorf("Deliver after its context ended = %v, want the cause", err)
	}
	stored, err := ReadRecord(t.Context(), recs, req.RunID)
	if err != nil || stored.State != StateQueued || stored.Reason != "" {
		t.Errorf("record = %s %q, %v; want queued as accepted", stored.State, stored.Reason, err)
	}
}

// TestDeliverCutShort: a delivery stopped mid-run (the handler got
// SIGTERM) leaves the record queued for the message's redelivery, saying
// which tenants were read and which were not, and frees the record at once.
// A timer run stopped alike is failed with the same account.
func TestDeliverCutShort(t *testing.T) {
	stopped := errors.New("the handler was stopped (SIGTERM)")
	c := collectorFunc(func(ctx context.Context, tn settings.Tenant, _ []string, emit func(string, any) error) (graphdata.Result, error) {
		if tn.DisplayName == "northwind" {
			<-ctx.Done() // northwind answers only once the run is stopped
			return graphdata.Result{}, ctx.Err()
		}
		return graphdata.Result{Sections: []graphdata.SectionResult{{Section: "users", Status: graphdata.SectionOK}}},
			emit("users", section.User{ID: "1", DisplayName: tn.DisplayName + " admin"})
	})
	r, recs := newAzuriteRunner(t, c)
	r.Parallel = 3
	want := "cut short: the handler was stopped (SIGTERM) after 2 of 3 tenants; not collected: northwind"
	// stopAfterTwo cancels ctx once two tenants are done.
	stopAfterTwo := func() (context.Context, func()) {
		ctx, cancel := context.WithCancelCause(t.Context())
		r.Progress = func(info Info, _ *TenantResult) {
			if info.TenantsDone == 2 {
				cancel(stopped)
			}
		}
		return ctx, func() { cancel(nil) }
	}

	t.Run("on demand", func(t *testing.T) {
		req := queued(t, r, nil, nil)
		ctx, cancel := stopAfterTwo()
		defer cancel()
		rec, err := r.Deliver(ctx, req, 1, 5)
		if !errors.Is(err, stopped) {
			t.Fatalf("Deliver stopped mid-run = %v, want the stop's cause", err)
		}
		stored, err := ReadRecord(t.Context(), recs, req.RunID)
		if err != nil || stored.State != StateQueued || stored.Reason != "attempt 1 of 5 did not finish, to be retried: "+want ||
			stored.TenantsDone != 2 || len(stored.Tenants) != 2 || stored.HasReport() || !stored.Finished.IsZero() {
			t.Errorf("record = %s %q %d/%d tenants %d, %v;\nwant queued, %q, 2/3 with their 2 results, no report",
				stored.State, stored.Reason, stored.TenantsDone, stored.TenantsTotal, len(stored.Tenants), err, want)
		}
		if rec.State != StateQueued {
			t.Errorf("returned record = %s, want queued", rec.State)
		}
		l, err := recs.Store.Lease(t.Context(), RecordName(req.RunID), 15*time.Second)
		if err != nil {
			t.Fatalf("Lease after the stop = %v, want the record free for the redelivery", err)
		}
		l.Release(t.Context())
	})
	t.Run("timer", func(t *testing.T) {
		ctx, cancel := stopAfterTwo()
		defer cancel()
		rec, err := r.Run(ctx, Request{Trigger: "timer"})
		if !errors.Is(err, stopped) {
			t.Fatalf("Run stopped mid-run = %v, want the stop's cause", err)
		}
		stored, err := ReadRecord(t.Context(), recs, rec.RunID)
		if err != nil || stored.State != StateFailed || stored.Reason != want || stored.Finished.IsZero() {
			t.Errorf("record = %s %q, %v; want failed, %q", stored.State, stored.Reason, err, want)
		}
	})
	if got := runtest.Names(t, recs.Store, "reports/"); len(got) != 0 {
		t.Errorf("workbooks = %q, want none", got)
	}
}

// failingWorkbooks is the Azurite store with every workbook upload failing,
// as when storage goes away mid-run.
type failingWorkbooks struct{ *reportstore.Store }

var errStorageDown = errors.New("storage unavailable")

func (f failingWorkbooks) Upload(ctx context.Context, name string, r io.Reader) error {
	if strings.HasSuffix(name, ".xlsx") {
		io.CopyN(io.Discard, r, 1024)
		return errStorageDown
	}
	return f.Store.Upload(ctx, name, r)
}

// TestDeliverFailedUpload: a failed upload leaves no workbook; the record
// says queued with the reason while the queue will retry, and failed after
// the last delivery (the message then rests in the poison queue).
func TestDeliverFailedUpload(t *testing.T) {
	r, recs := newAzuriteRunner(t, fakeDirectory(3))
	r.Store = failingWorkbooks{recs.Store}
	req := queued(t, r, nil, nil)

	rec, err := r.Deliver(t.Context(), req, 4, 5)
	if !errors.Is(err, errStorageDown) {
		t.Fatalf("Deliver = %v, want the upload error", err)
	}
	stored, _ := ReadRecord(t.Context(), recs, req.RunID)
	if stored.State != StateQueued || !strings.Contains(stored.Reason, "attempt 4 of 5") || !strings.Contains(stored.Reason, "storage unavailable") {
		t.Errorf("record after attempt 4 = %s %q, want queued with the attempt and cause", stored.State, stored.Reason)
	}
	if rec.State != StateQueued {
		t.Errorf("returned record state = %s, want queued", rec.State)
	}

	if _, err := r.Deliver(t.Context(), req, 5, 5); !errors.Is(err, errStorageDown) {
		t.Fatalf("last Deliver = %v, want the upload error", err)
	}
	stored, _ = ReadRecord(t.Context(), recs, req.RunID)
	if stored.State != StateFailed || !strings.Contains(stored.Reason, "storage unavailable") || stored.HasReport() || stored.Finished.IsZero() {
		t.Errorf("record after the last attempt = %+v, want failed with the reason, finished, no report", stored)
	}
	if got := runtest.Names(t, recs.Store, "reports/"); len(got) != 0 {
		t.Errorf("workbooks = %q, want none", got)
	}
	// Poisoned: a stray redelivery does nothing.
	if _, err := r.Deliver(t.Context(), req, 6, 5); !errors.Is(err, ErrFinished) {
		t.Errorf("Deliver of a failed run = %v, want ErrFinished", err)
	}
}

// TestDeliverWithoutRecord: a message whose record is missing still runs,
// with the request's subsets.
func TestDeliverWithoutRecord(t *testing.T) {
	r, recs := newAzuriteRunner(t, fakeDirectory(2))
	req, err := r.NewRequest("http", []string{strings.ToUpper(tenants[1].ID)}, []string{"USERS"})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Deliver(t.Context(), req, 1, 5)
	if err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	if rec.State != StateSucceeded || len(rec.Tenants) != 1 || rec.Tenants[0].TenantID != tenants[1].ID ||
		len(rec.RequestedTenants) != 1 || rec.RequestedSections[0] != "users" {
		t.Errorf("record = %+v, want Contoso alone, succeeded", rec)
	}
	if got := runtest.Names(t, recs.Store, "reports/"); len(got) != 1 {
		t.Errorf("workbooks = %q, want one", got)
	}
}

func TestNewRequestRejectsUnknown(t *testing.T) {
	r := &Runner{Tenants: tenants, Sections: []string{"users", "devices"}}
	_, err := r.NewRequest("http", []string{tenants[0].ID, "44444444-4444-4444-4444-444444444444"}, []string{"devices", "mfa"})
	var fe *settings.FieldError
	if !errors.As(err, &fe) || !errors.Is(err, ErrUnknown) {
		t.Fatalf("NewRequest = %v, want FieldErrors wrapping ErrUnknown", err)
	}
	for _, want := range []string{"tenants[1]", "44444444-4444-4444-4444-444444444444", "sections[1]", "mfa"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NewRequest error %q does not name %q", err, want)
		}
	}
}

// TestTimerAndOnDemandAtOnce: a timer run and an on-demand run of one
// runner at the same time write two complete, distinct reports.
func TestTimerAndOnDemandAtOnce(t *testing.T) {
	r, recs := newAzuriteRunner(t, fakeDirectory(50))
	req := queued(t, r, nil, nil)
	var (
		wg            sync.WaitGroup
		timer, demand Record
		terr, derr    error
	)
	wg.Go(func() { timer, terr = r.Run(t.Context(), Request{Trigger: "timer"}) })
	wg.Go(func() { demand, derr = r.Deliver(t.Context(), req, 1, 5) })
	wg.Wait()
	if terr != nil || derr != nil {
		t.Fatalf("Run = %v, Deliver = %v", terr, derr)
	}
	if timer.RunID == demand.RunID || timer.Report == demand.Report {
		t.Errorf("both runs wrote %s / %s", timer.Report, demand.Report)
	}
	for _, rec := range []Record{timer, demand} {
		stored, err := ReadRecord(t.Context(), recs, rec.RunID)
		if err != nil || stored.State != StatePartial || stored.ReportBytes != rec.ReportBytes {
			t.Errorf("record %s = %s, %v; want partial with its report", rec.RunID, stored.State, err)
		}
		item, err := recs.Stat(t.Context(), rec.Report)
		if err != nil || item.Size != rec.ReportBytes {
			t.Errorf("workbook %s = %+v, %v; want %d bytes", rec.Report, item, err, rec.ReportBytes)
		}
	}
}
