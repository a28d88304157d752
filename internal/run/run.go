// Package run executes one report run: it fans out over the tenants, spools
// each tenant's rows to disk, assembles the workbook from the spools and
// uploads it with a run record.
//
// # Stages
//
// A run is plan → collect (one goroutine per tenant, up to Parallel at once,
// rows spooled to one file per tenant and section) → assemble (spools →
// workbook → upload → run record). The spool is the only interface between
// collect and assemble, so the stages can later run on different instances.
//
// One tenant's failure is data: it is recorded, shown in the workbook, and
// the other tenants carry on.
package run

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/settings"
	"github.com/tenantreport/tenantreport/internal/tenantauth"
)

// Collector reads one tenant, passing each row to emit with its section.
// *graphdata.Collector satisfies it.
type Collector interface {
	Collect(ctx context.Context, t settings.Tenant, emit func(section string, row any) error) (graphdata.Result, error)
}

// Uploader stores a finished object under name; the object must not be
// visible under that name before r is read to its end.
// *reportstore.Store and *reportstore.Dir satisfy it.
type Uploader interface {
	Upload(ctx context.Context, name string, r io.Reader) error
}

// ErrAllTenantsFailed is returned, with the record, when a report was
// written but no tenant could be read: a sign of a broken deployment (the
// managed identity or the bridge app) rather than of one customer.
var ErrAllTenantsFailed = errors.New("run: every tenant failed")

// Status is the outcome of one tenant.
type Status string

const (
	StatusOK Status = "ok"
	// StatusPartial is a tenant with at least one failed section.
	StatusPartial Status = "partial"
	StatusFailed  Status = "failed"
)

// TenantResult is the outcome of one tenant in a run.
type TenantResult struct {
	TenantID     string        `json:"tenantId"`
	DisplayName  string        `json:"displayName"`
	Status       Status        `json:"status"`
	Users        int           `json:"users"`
	EnabledUsers int           `json:"enabledUsers"`
	Guests       int           `json:"guests"`
	Requests     int           `json:"requests"`
	Throttled    int           `json:"throttled"`
	Duration     time.Duration `json:"durationNs"`
	// Error is the diagnosed failure, never holding a token.
	Error string `json:"error,omitempty"`
	// Sections is the outcome of each enabled section; empty when the
	// tenant could not be reached at all.
	Sections []graphdata.SectionResult `json:"sections,omitempty"`
	graphdata.Totals
}

// Section returns the outcome of the named section, if it was attempted.
func (t TenantResult) Section(name string) (graphdata.SectionResult, bool) {
	for _, s := range t.Sections {
		if s.Section == name {
			return s, true
		}
	}
	return graphdata.SectionResult{}, false
}

// Record is the run record stored next to the report as runs/<runId>.json.
type Record struct {
	RunID       string         `json:"runId"`
	Trigger     string         `json:"trigger"`
	Started     time.Time      `json:"started"`
	Finished    time.Time      `json:"finished"`
	Report      string         `json:"report"`
	ReportBytes int64          `json:"reportBytes"`
	Tenants     []TenantResult `json:"tenants"`
}

// RecordName is where the record of runID is stored.
func RecordName(runID string) string { return "runs/" + runID + ".json" }

// Runner runs reports. Its fields are read-only once Run is called; Run may
// be called concurrently.
type Runner struct {
	Tenants   []settings.Tenant
	Collector Collector
	Store     Uploader
	// Sections are the enabled sections: each gets a sheet.
	Sections []string
	// Parallel is how many tenants are collected at once (at least 1).
	Parallel int
	Logger   *slog.Logger
	// SpoolDir holds the spool files of runs ("" = the OS temp directory).
	SpoolDir string
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// Progress, if set, is called once per tenant as it finishes, never
	// concurrently.
	Progress func(TenantResult)
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Run collects every tenant, writes and uploads the workbook and the run
// record, and returns the record. Tenant failures are in the record, not in
// the error; the error is for a run that produced no report (or, with
// [ErrAllTenantsFailed], a report of failures only).
func (r *Runner) Run(ctx context.Context, trigger string) (Record, error) {
	rec := Record{Trigger: trigger, Started: r.now()}
	rec.RunID = newRunID(rec.Started)
	log := r.Logger.With("run_id", rec.RunID)
	log.InfoContext(ctx, "run started", "trigger", trigger, "tenants", len(r.Tenants))

	dir, err := os.MkdirTemp(r.SpoolDir, "tenantreport-"+rec.RunID+"-")
	if err != nil {
		return rec, fmt.Errorf("run: spool directory: %w", err)
	}
	defer os.RemoveAll(dir)

	results := r.collect(ctx, log, dir)
	rec.Tenants = make([]TenantResult, len(results))
	for i, res := range results {
		rec.Tenants[i] = res.TenantResult
	}

	rec.Report = reportstore.ReportName(rec.Started, rec.RunID)
	n, err := r.assemble(ctx, rec.Report, results)
	if err != nil {
		return rec, err
	}
	rec.ReportBytes = n
	rec.Finished = r.now()

	body, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return rec, fmt.Errorf("run: record: %w", err)
	}
	if err := r.Store.Upload(ctx, RecordName(rec.RunID), strings.NewReader(string(body))); err != nil {
		return rec, fmt.Errorf("run: record: %w", err)
	}

	failed := 0
	for _, t := range rec.Tenants {
		if t.Status == StatusFailed {
			failed++
		}
	}
	log.InfoContext(ctx, "run finished", "report", rec.Report, "bytes", rec.ReportBytes,
		"tenants_ok", len(rec.Tenants)-failed, "tenants_failed", failed, "duration", rec.Finished.Sub(rec.Started))
	if failed > 0 && failed == len(rec.Tenants) {
		return rec, ErrAllTenantsFailed
	}
	return rec, nil
}

// tenantRun is a tenant's result and where its rows were spooled.
type tenantRun struct {
	TenantResult
	// spools are the spool files by section, of a tenant that did not fail.
	spools map[string]string
}

// collect reads every tenant into dir and returns the results sorted by
// display name, then id, so two runs over the same data are identical.
func (r *Runner) collect(ctx context.Context, log *slog.Logger, dir string) []tenantRun {
	results := make([]tenantRun, len(r.Tenants))
	var progress sync.Mutex
	var g errgroup.Group // not WithContext: one tenant's failure must not cancel the others
	g.SetLimit(max(r.Parallel, 1))
	for i, t := range r.Tenants {
		g.Go(func() error {
			results[i] = r.collectTenant(ctx, log, t, filepath.Join(dir, fmt.Sprintf("tenant-%d", i)))
			if r.Progress != nil {
				progress.Lock()
				r.Progress(results[i].TenantResult)
				progress.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines never return an error
	slices.SortStableFunc(results, func(a, b tenantRun) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.DisplayName), strings.ToLower(b.DisplayName)), cmp.Compare(a.TenantID, b.TenantID))
	})
	return results
}

func (r *Runner) collectTenant(ctx context.Context, log *slog.Logger, t settings.Tenant, spoolPrefix string) tenantRun {
	start := time.Now()
	tr := tenantRun{TenantResult: TenantResult{TenantID: t.ID, DisplayName: t.Name()}}
	log = log.With("tenant", t.ID)

	spools := map[string]*spoolWriter{}
	res, err := r.Collector.Collect(ctx, t, func(section string, row any) error {
		sw := spools[section]
		if sw == nil {
			var err error
			if sw, err = createSpool(spoolPrefix+"-"+section+".spool", spoolHeader{Section: section, Tenant: t.ID}); err != nil {
				return err
			}
			spools[section] = sw
		}
		return sw.write(rowKey(row), row)
	})
	paths := make(map[string]string, len(spools))
	for section, sw := range spools {
		if cerr := sw.close(); err == nil {
			err = cerr
		}
		paths[section] = sw.f.Name()
	}
	if err == nil {
		// Graph promises no order: sort each section by a stable key so
		// two runs over the same directory write the same workbook.
		for _, p := range paths {
			if err = sortSpool(p); err != nil {
				break
			}
		}
	}
	tr.Duration = time.Since(start)
	tr.Requests, tr.Throttled, tr.Sections = res.Requests, res.Throttled, res.Sections
	if err != nil {
		// Partial rows of a failed tenant would read as complete data.
		for _, p := range paths {
			os.Remove(p)
		}
		tr.Status, tr.Error = StatusFailed, explain(err)
		log.WarnContext(ctx, "tenant failed", "error", err, "duration", tr.Duration)
		return tr
	}
	if t.DisplayName == "" && res.Organization.DisplayName != "" {
		tr.DisplayName = res.Organization.DisplayName
	}
	tr.spools = paths
	tr.Users, tr.EnabledUsers, tr.Guests, tr.Totals = res.Users, res.EnabledUsers, res.Guests, res.Totals
	tr.Status = StatusOK
	failed := 0
	for _, s := range res.Sections {
		switch s.Status {
		case graphdata.SectionFailed:
			failed++
			log.WarnContext(ctx, "section failed", "section", s.Section, "reason", s.Reason)
		case graphdata.SectionUnavailable:
			log.InfoContext(ctx, "section not available", "section", s.Section, "reason", s.Reason)
		}
	}
	if failed > 0 {
		tr.Status = StatusPartial
		if failed == len(res.Sections) {
			tr.Status, tr.Error = StatusFailed, "every section failed; see Run status"
		}
	}
	log.InfoContext(ctx, "tenant collected", "status", tr.Status, "users", res.Users, "requests", res.Requests, "duration", tr.Duration)
	return tr
}

// assemble streams the workbook from the spools into the store and returns
// its size. The writer goroutine ends when the workbook is written or the
// upload stops reading (pr.CloseWithError unblocks it).
func (r *Runner) assemble(ctx context.Context, name string, results []tenantRun) (int64, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := writeWorkbook(pw, results, r.Sections)
		pw.CloseWithError(err)
		done <- err
	}()
	cr := &countingReader{r: pr}
	uerr := r.Store.Upload(ctx, name, cr)
	pr.CloseWithError(cmp.Or(uerr, io.ErrClosedPipe))
	werr := <-done
	if uerr != nil {
		return 0, fmt.Errorf("run: upload %s: %w", name, uerr)
	}
	if werr != nil {
		return 0, fmt.Errorf("run: workbook: %w", werr)
	}
	return cr.n, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// newRunID is sortable by start time and unique across instances.
func newRunID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return t.Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// explain is the failure as a report reader should see it: a diagnosed
// token failure without the package prefixes, anything else as it is.
func explain(err error) string {
	if e := (*tenantauth.Error)(nil); errors.As(err, &e) {
		return e.Explain()
	}
	return err.Error()
}
