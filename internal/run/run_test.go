package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/runtest"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// collectorFunc is a fake directory that serves every section it has,
// whatever is asked.
type collectorFunc = runtest.Collector

type uploaderFunc func(ctx context.Context, name string, r io.Reader) error

func (f uploaderFunc) Upload(ctx context.Context, name string, r io.Reader) error {
	return f(ctx, name, r)
}

var tenants = []settings.Tenant{
	{ID: "33333333-3333-3333-3333-333333333333", DisplayName: "northwind"},
	{ID: "11111111-1111-1111-1111-111111111111", DisplayName: "Contoso"},
	{ID: "22222222-2222-2222-2222-222222222222", DisplayName: "Fabrikam"},
}

// fakeDirectory serves n users per tenant and fails Fabrikam halfway.
func fakeDirectory(n int) collectorFunc {
	return func(_ context.Context, t settings.Tenant, _ []string, emit func(string, any) error) (graphdata.Result, error) {
		res := graphdata.Result{Sections: []graphdata.SectionResult{{Section: "users", Status: graphdata.SectionOK}}}
		for i := range n {
			if t.DisplayName == "Fabrikam" && i == n/2 {
				return res, errors.New("graphdata: users: HTTP 503")
			}
			enabled := i%2 == 0
			u := section.User{ID: fmt.Sprint(i), DisplayName: fmt.Sprintf("%s user %d", t.DisplayName, i), UserType: "Member", AccountEnabled: &enabled,
				Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
			if i == 0 {
				u.DisplayName = "=HYPERLINK(\"http://evil\")"
			}
			res.Users++
			if err := emit("users", u); err != nil {
				return res, err
			}
		}
		return res, nil
	}
}

func TestRunIsolatesTenantFailure(t *testing.T) {
	dir := t.TempDir()
	store, err := reportstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	spool := t.TempDir()
	var progress []string
	r := &Runner{Tenants: tenants, Collector: fakeDirectory(10), Store: store, Parallel: 2, SpoolDir: spool, Sections: []string{"users"},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Progress: func(_ Info, tr *TenantResult) {
			if tr != nil {
				progress = append(progress, tr.DisplayName)
			}
		}}
	rec, err := r.Run(t.Context(), Request{Trigger: "test"})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(progress) != 3 {
		t.Errorf("progress calls = %v, want one per tenant", progress)
	}
	var order []string
	for _, tr := range rec.Tenants {
		order = append(order, tr.DisplayName+":"+string(tr.Status))
	}
	if got, want := strings.Join(order, " "), "Contoso:ok Fabrikam:failed northwind:ok"; got != want {
		t.Errorf("record tenants = %s, want %s (by display name, case-insensitive)", got, want)
	}
	if !strings.Contains(rec.Tenants[1].Error, "HTTP 503") {
		t.Errorf("Fabrikam error = %q, want the cause", rec.Tenants[1].Error)
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Errorf("spool directory not cleaned up: %v", left)
	}

	f, err := excelize.OpenFile(filepath.Join(dir, filepath.FromSlash(rec.Report)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Users")
	if err != nil {
		t.Fatal(err)
	}
	// The failed tenant's partial rows are not in the report.
	if len(rows) != 1+20 {
		t.Fatalf("Users rows = %d, want header + 20", len(rows))
	}
	if rows[1][0] != "Contoso" || rows[11][0] != "northwind" {
		t.Errorf("Users tenant column = %q, %q", rows[1][0], rows[11][0])
	}
	if formula, _ := f.GetCellFormula("Users", "C2"); formula != "" || rows[1][2] != `=HYPERLINK("http://evil")` {
		t.Errorf("C2 = %q (formula %q), want the text as text", rows[1][2], formula)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs", rec.RunID+".json")); err != nil {
		t.Errorf("run record: %v", err)
	}
}

func TestRunAllTenantsFailed(t *testing.T) {
	store, err := reportstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Tenants: tenants, Store: store, Logger: slog.New(slog.DiscardHandler),
		Collector: collectorFunc(func(context.Context, settings.Tenant, []string, func(string, any) error) (graphdata.Result, error) {
			return graphdata.Result{}, errors.New("tenantauth: managed identity token: unavailable")
		})}
	rec, err := r.Run(t.Context(), Request{Trigger: "test"})
	if !errors.Is(err, ErrAllTenantsFailed) {
		t.Errorf("Run = %v, want ErrAllTenantsFailed", err)
	}
	if rec.ReportBytes == 0 {
		t.Errorf("no report written; want one that shows every tenant's failure")
	}
}

// TestRunUploadFailureEndsWriter checks that a failed upload ends the run
// with the upload's error and does not leave the workbook writer blocked.
func TestRunUploadFailureEndsWriter(t *testing.T) {
	boom := errors.New("storage unavailable")
	r := &Runner{Tenants: tenants, Collector: fakeDirectory(5000), Logger: slog.New(slog.DiscardHandler),
		Store: uploaderFunc(func(_ context.Context, _ string, r io.Reader) error {
			if _, err := r.Read(make([]byte, 512)); err != nil {
				return err
			}
			return boom
		})}
	_, err := r.Run(t.Context(), Request{Trigger: "test"})
	if !errors.Is(err, boom) {
		t.Errorf("Run = %v, want the upload error", err)
	}
}

// TestRunStateOfUnavailableSections: a section a tenant cannot serve (no
// licence) makes the tenant partial in the report, but the run succeeded:
// nothing failed.
func TestRunStateOfUnavailableSections(t *testing.T) {
	store, err := reportstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Tenants: tenants[:1], Store: store, Sections: []string{"users", "mfa"}, Logger: slog.New(slog.DiscardHandler),
		Collector: collectorFunc(func(context.Context, settings.Tenant, []string, func(string, any) error) (graphdata.Result, error) {
			return graphdata.Result{Sections: []graphdata.SectionResult{
				{Section: "users", Status: graphdata.SectionOK},
				{Section: "mfa", Status: graphdata.SectionUnavailable, Reason: "needs Entra ID P1/P2"},
			}}, nil
		})}
	rec, err := r.Run(t.Context(), Request{Trigger: "test"})
	if err != nil || rec.State != StateSucceeded || rec.Tenants[0].Status != StatusPartial {
		t.Errorf("Run = %s (tenant %s), %v; want succeeded with the tenant partial", rec.State, rec.Tenants[0].Status, err)
	}
}

// TestOrphanSpoolsRemoved: a run killed outright leaves its spool
// directory behind; the next run removes it, and leaves alone those of
// processes still running and those whose owner it cannot tell.
func TestOrphanSpoolsRemoved(t *testing.T) {
	spool := t.TempDir()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	mkdir := func(name, owner string) string {
		dir := filepath.Join(spool, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tenant-0-users.spool"), []byte("rows"), 0o600); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(dir, spoolOwner), []byte(owner), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	killed := mkdir("tenantreport-killed-1", strconv.Itoa(gone.Process.Pid))
	running := mkdir("tenantreport-running-2", strconv.Itoa(os.Getppid()))
	unknown := mkdir("tenantreport-unknown-3", "")
	store, err := reportstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Tenants: tenants, Collector: fakeDirectory(3), Store: store, Parallel: 2, SpoolDir: spool, Sections: []string{"users"},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	if _, err := r.Run(t.Context(), Request{Trigger: "test"}); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{killed: false, running: true, unknown: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: exists = %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
	left, _ := filepath.Glob(filepath.Join(spool, "tenantreport-*"))
	if len(left) != 2 {
		t.Errorf("spool directories left: %q, want the running and the unknown one (the run removes its own)", left)
	}
}
