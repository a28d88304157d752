package run

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/runtest"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// Ids of the test tenants (run_test.go's tenants).
const (
	northwindID = "33333333-3333-3333-3333-333333333333"
	contosoID   = "11111111-1111-1111-1111-111111111111"
	fabrikamID  = "22222222-2222-2222-2222-222222222222"
)

// TestTenantWorkbooks: with TenantWorkbooks on, the run stores each
// tenant's own workbook, the failed tenant's too, beside the combined one,
// and the stored record names each on its tenant; off, the combined one
// only and no names.
func TestTenantWorkbooks(t *testing.T) {
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "on", false: "off"}[on]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store, err := reportstore.NewDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			r := &Runner{Tenants: tenants, Collector: fakeDirectory(4), Store: store, Sections: []string{"users"}, Parallel: 3,
				SpoolDir: t.TempDir(), TenantWorkbooks: on, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
			requested := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
			req := Request{RunID: newRunID(requested), Trigger: "test", Requested: requested}
			if _, err := r.Run(t.Context(), req); err != nil {
				t.Fatalf("Run = %v", err)
			}
			stored, err := ReadRecord(t.Context(), store, req.RunID)
			if err != nil {
				t.Fatal(err)
			}
			// Fabrikam failed; a tenant's own workbook is no failure.
			if stored.State != StatePartial || stored.Reason != "" {
				t.Errorf("stored record = %s %q, want partial (Fabrikam failed) without a reason", stored.State, stored.Reason)
			}
			want := []string{"reports/2026/12/31/" + req.RunID + ".xlsx"}
			if on {
				want = append(want, "reports/2026/12/31/"+req.RunID+"/"+contosoID+".xlsx",
					"reports/2026/12/31/"+req.RunID+"/"+fabrikamID+".xlsx", "reports/2026/12/31/"+req.RunID+"/"+northwindID+".xlsx")
			}
			if got := runtest.Names(t, store, "reports/"); !slices.Equal(got, want) {
				t.Errorf("stored workbooks = %q, want %q", got, want)
			}
			if stored.Report != want[0] {
				t.Errorf("record's report = %q, want %q", stored.Report, want[0])
			}
			for _, id := range []string{contosoID, fabrikamID, northwindID} {
				tr, ok := stored.Tenant(strings.ToUpper(id))
				if !ok {
					t.Fatalf("stored record has no tenant %s", id)
				}
				if !on {
					if tr.Report != "" || tr.ReportBytes != 0 {
						t.Errorf("%s: own workbook %q (%d bytes), want none", tr.DisplayName, tr.Report, tr.ReportBytes)
					}
					continue
				}
				it, err := store.Stat(t.Context(), tr.Report)
				if tr.Report != TenantReportName(requested, req.RunID, id) || err != nil || it.Size != tr.ReportBytes {
					t.Errorf("%s: own workbook %q (%d bytes): %+v, %v; want %s, its size", tr.DisplayName, tr.Report, tr.ReportBytes, it, err,
						TenantReportName(requested, req.RunID, id))
					continue
				}
				f := runtest.Workbook(t, store, tr.Report)
				users, _ := f.GetRows("Users")
				summary, _ := f.GetRows("Summary")
				if len(summary) != 2 || summary[1][0] != tr.DisplayName || summary[1][2] != string(tr.Status) {
					t.Errorf("%s: Summary = %q, want a header and one row: %s, %s", tr.DisplayName, summary, tr.DisplayName, tr.Status)
				}
				switch id {
				case fabrikamID:
					// Its Summary says failed (above); its partial rows
					// would read as complete data.
					if len(users) != 1 {
						t.Errorf("Fabrikam's own Users = %q, want the header only", users)
					}
				default:
					if len(users) != 1+4 || slices.ContainsFunc(users[1:], func(row []string) bool { return row[0] != tr.DisplayName }) {
						t.Errorf("%s's own Users = %q, want its 4 users only", tr.DisplayName, users)
					}
				}
			}
		})
	}
}

// failOne is the Azurite store failing the upload of one name midway, as
// when storage goes away during it: the real upload reads the start of the
// workbook, then the stream fails.
type failOne struct {
	*reportstore.Store
	name string
}

func (f failOne) Upload(ctx context.Context, name string, r io.Reader) error {
	if name == f.name {
		r = io.MultiReader(io.LimitReader(r, 4096), iotest.ErrReader(errStorageDown))
	}
	return f.Store.Upload(ctx, name, r)
}

// TestTenantWorkbookNotWritten: one tenant's own workbook fails to upload.
// That tenant has none (nothing half-written is visible), the other tenant
// and the combined workbook are stored, and the run ends partial, saying
// whose workbook is missing and why.
func TestTenantWorkbookNotWritten(t *testing.T) {
	r, recs := newAzuriteRunner(t, fakeDirectory(4))
	r.Tenants = []settings.Tenant{tenants[0], tenants[1]} // northwind and Contoso, both read whole
	r.TenantWorkbooks = true
	now := time.Now()
	req := Request{RunID: newRunID(now), Trigger: "test", Requested: now}
	refused := TenantReportName(now, req.RunID, contosoID)
	r.Store = failOne{recs.Store, refused}

	rec, err := r.Run(t.Context(), req)
	if err != nil {
		t.Fatalf("Run = %v, want the run to finish: the combined workbook is whole", err)
	}
	stored, err := ReadRecord(t.Context(), recs, req.RunID)
	if err != nil {
		t.Fatal(err)
	}
	want := "tenant workbook not written for 1 of 2 tenants: Contoso; run: upload " + refused + ": "
	for _, got := range []Record{rec, stored} {
		if got.State != StatePartial || !strings.HasPrefix(got.Reason, want) || !strings.Contains(got.Reason, "storage unavailable") {
			t.Errorf("record = %s %q, want partial, %q…storage unavailable", got.State, got.Reason, want)
		}
	}
	contoso, _ := stored.Tenant(contosoID)
	northwind, _ := stored.Tenant(northwindID)
	if contoso.Status != StatusOK || contoso.Report != "" || contoso.ReportBytes != 0 {
		t.Errorf("Contoso = %s, own workbook %q (%d bytes); want ok, no workbook named", contoso.Status, contoso.Report, contoso.ReportBytes)
	}
	if northwind.Report != TenantReportName(now, req.RunID, northwindID) || northwind.ReportBytes == 0 {
		t.Errorf("northwind's own workbook = %q (%d bytes), want %s", northwind.Report, northwind.ReportBytes, TenantReportName(now, req.RunID, northwindID))
	}
	if got, want := runtest.Names(t, recs.Store, "reports/"), []string{stored.Report, northwind.Report}; !slices.Equal(got, want) {
		t.Errorf("stored workbooks = %q, want %q: the combined one and northwind's, nothing of Contoso's", got, want)
	}
	if it, err := recs.Store.Stat(t.Context(), refused); !errors.Is(err, reportstore.ErrNotFound) {
		t.Errorf("Stat(%s) = %+v, %v; want ErrNotFound: a failed upload is never committed", refused, it, err)
	}
	assertWorkbookRows(t, recs.Store, stored.Report, 1+8)
	assertWorkbookRows(t, recs.Store, northwind.Report, 1+4)
}

// TestTenantWorkbooksCutShort: the run is stopped (SIGTERM) once its
// combined workbook is stored. As before tenants' own workbooks, the run
// finishes with the combined one; the tenants' own are not tried, and the
// record says so.
func TestTenantWorkbooksCutShort(t *testing.T) {
	store, err := reportstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stopped := errors.New("the handler was stopped (SIGTERM)")
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	var tried []string
	r := &Runner{Tenants: tenants, Collector: fakeDirectory(4), Sections: []string{"users"}, Parallel: 3, SpoolDir: t.TempDir(),
		TenantWorkbooks: true, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Store: uploaderFunc(func(ctx context.Context, name string, r io.Reader) error {
			if !strings.HasSuffix(name, ".xlsx") {
				return store.Upload(ctx, name, r)
			}
			tried = append(tried, name)
			err := store.Upload(ctx, name, r)
			cancel(stopped) // the first is the combined workbook: stored, then stopped
			return err
		})}
	rec, err := r.Run(ctx, Request{Trigger: "timer"})
	if err != nil {
		t.Fatalf("Run = %v, want the run finished with its combined workbook", err)
	}
	stored, err := ReadRecord(t.Context(), store, rec.RunID)
	if err != nil {
		t.Fatal(err)
	}
	want := "tenant workbook not written for 3 of 3 tenants: Contoso, Fabrikam, northwind; cut short: the handler was stopped (SIGTERM)"
	if stored.State != StatePartial || stored.Reason != want || !stored.HasReport() {
		t.Errorf("stored record = %s %q, report %q; want partial, %q, the combined workbook", stored.State, stored.Reason, stored.Report, want)
	}
	if len(tried) != 1 {
		t.Errorf("workbook uploads = %q, want the combined one only: once stopped, no tenant's own is tried", tried)
	}
	if got := runtest.Names(t, store, "reports/"); !slices.Equal(got, []string{stored.Report}) {
		t.Errorf("stored workbooks = %q, want the combined one", got)
	}
}
