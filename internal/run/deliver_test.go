package run

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// blobRecords is the production adapter's shape: the Azurite store, its
// leases as Lease, and every record write also sent to written.
type blobRecords struct {
	*reportstore.Store
	written chan Record // nil: not observed
}

func (b *blobRecords) Lease(ctx context.Context, name string, d time.Duration) (Lease, error) {
	l, err := b.Store.Lease(ctx, name, d)
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

func workbooks(t *testing.T, s *reportstore.Store) []string {
	t.Helper()
	items, err := s.List(t.Context(), "reports/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range items {
		names = append(names, it.Name)
	}
	return names
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
	if got := workbooks(t, recs.Store); len(got) != 1 || got[0] != rec.Report {
		t.Errorf("workbooks = %q, want just %s", got, rec.Report)
	}
}

// TestDeliverConcurrent: while one delivery runs (holding the lease), a
// second delivery of the same message does nothing, and the running record
// shows progress tenant by tenant.
func TestDeliverConcurrent(t *testing.T) {
	release := make(chan struct{})
	c := collectorFunc(func(ctx context.Context, tn settings.Tenant, _ []string, emit func(string, any) error) (graphdata.Result, error) {
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
	recs.written = make(chan Record, 16)
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
	if _, err := r.Deliver(t.Context(), req, 1, 5); !errors.Is(err, ErrBusy) {
		t.Errorf("Deliver while another delivery runs = %v, want ErrBusy", err)
	}
	// The plain upload path cannot overwrite a leased record either.
	if err := r.Store.Upload(t.Context(), RecordName(req.RunID), EncodeRecord(QueuedRecord(req))); !errors.Is(err, reportstore.ErrLeased) {
		t.Errorf("Upload of a leased record = %v, want ErrLeased", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first Deliver = %v", err)
	}
	if got := workbooks(t, recs.Store); len(got) != 1 {
		t.Errorf("workbooks = %q, want one", got)
	}
	final, err := ReadRecord(t.Context(), recs, req.RunID)
	if err != nil || final.State != StateSucceeded || final.TenantsDone != 3 {
		t.Errorf("final record = %s %d/3, %v; want succeeded 3/3", final.State, final.TenantsDone, err)
	}
	// Released: nothing holds the record any more.
	l, err := recs.Store.Lease(t.Context(), RecordName(req.RunID), 15*time.Second)
	if err != nil {
		t.Fatalf("Lease after the run = %v, want the lease released", err)
	}
	l.Release(t.Context())
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
	if got := workbooks(t, recs.Store); len(got) != 0 {
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
	if got := workbooks(t, recs.Store); len(got) != 1 {
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
