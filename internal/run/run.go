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
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/report"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// Collector reads the sections of one tenant, passing each row to emit
// with its section, and predicts a run from the tenants' sizes.
// *graphdata.Collector satisfies it.
type Collector interface {
	Collect(ctx context.Context, job graphdata.Job, emit func(section string, row any) error) (graphdata.Result, error)
	Survey(ctx context.Context, t settings.Tenant) (graphdata.Size, error)
	Mark() graphdata.Mark
	Plan(tenants []graphdata.Planned, since graphdata.Mark) *graphdata.Plan
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
	// StatusOK is a tenant whose every section was read.
	StatusOK Status = "ok"
	// StatusPartial is a tenant with at least one section failed or not
	// available (Sections say which and why).
	StatusPartial Status = "partial"
	StatusFailed  Status = "failed"
)

// TenantResult is the outcome of one tenant in a run.
type TenantResult struct {
	TenantID    string        `json:"tenantId"`
	DisplayName string        `json:"displayName"`
	Status      Status        `json:"status"`
	Duration    time.Duration `json:"durationNs"`
	// Error is the diagnosed failure, never holding a token.
	Error string `json:"error,omitempty"`
	// Report is the name in the store of the tenant's own workbook (its
	// rows only; see [TenantReportName]), set once it is uploaded; empty
	// when the run writes none or it could not be written.
	Report      string `json:"report,omitempty"`
	ReportBytes int64  `json:"reportBytes,omitempty"`
	// Result is what was collected; its Sections are empty when the tenant
	// could not be reached at all.
	graphdata.Result
}

// Runner runs reports. Its fields are read-only once Run is called; Run and
// Deliver may be called concurrently.
type Runner struct {
	// Tenants are the configured tenants; a request may name a subset.
	Tenants   []settings.Tenant
	Collector Collector
	// Store receives workbooks and run records.
	Store Uploader
	// Records reads and leases run records for Deliver (nil: Deliver fails).
	Records Records
	// Sections are the enabled sections: each gets a sheet. A request may
	// name a subset.
	Sections []string
	// Parallel is how many tenants are collected at once (at least 1).
	Parallel int
	Logger   *slog.Logger
	// SpoolDir holds the spool files of runs ("" = the OS temp directory).
	SpoolDir string
	// leasePoll is how often Deliver looks again at a record another
	// process has leased (0: leasePoll); tests shorten it.
	leasePoll time.Duration
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// Progress, if set, is called once the run is planned (finished nil)
	// and once per tenant as it finishes, never concurrently, with the run
	// as it stands: tenants done and the expected finish.
	Progress func(run Info, finished *TenantResult)
	// Version is the tool's version, written into the workbook.
	Version string
	// TenantTimeout limits the collection of one tenant (0: no limit): the
	// sections not read by then are failed as timed out, the others kept.
	TenantTimeout time.Duration
	// Highlights are the workbook's thresholds (zero: nothing below them).
	Highlights report.Thresholds
	// TenantWorkbooks, once the combined workbook is uploaded, writes each
	// tenant's own workbook from the same spools, one after another
	// (false: the combined one only).
	TenantWorkbooks bool
	// RecordRetry is how the run retries writing its final record, failed
	// or finished, while storage fails (zero: the [Backoff] defaults).
	RecordRetry Backoff
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Run executes req now (a request without a run id gets one), writing the
// record through Store as it goes: running, updated as tenants finish, then
// final. Tenant failures are in the record, not in the error; the error is
// for a run that produced no report (its record then says failed, if it
// could be written) or, with [ErrAllTenantsFailed], a report of failures
// only.
func (r *Runner) Run(ctx context.Context, req Request) (Record, error) {
	if req.RunID == "" {
		req.RunID = newRunID(r.now())
	}
	if req.Requested.IsZero() {
		req.Requested = r.now()
	}
	save := func(ctx context.Context, rec Record) error {
		return r.Store.Upload(ctx, RecordName(rec.RunID), EncodeRecord(rec))
	}
	return r.execute(ctx, req, QueuedRecord(req), save)
}

// execute runs req from rec (queued), saving each new state of the record
// with save.
func (r *Runner) execute(ctx context.Context, req Request, rec Record, save func(context.Context, Record) error) (Record, error) {
	tenants, sections := r.scope(req)
	rec.State, rec.Reason, rec.Started, rec.Collected, rec.Finished = StateRunning, "", r.now(), time.Time{}, time.Time{}
	rec.TenantsTotal, rec.TenantsDone, rec.Tenants, rec.Report, rec.ReportBytes = len(tenants), 0, []TenantResult{}, "", 0
	log := r.Logger.With("run_id", rec.RunID)
	log.InfoContext(ctx, "run started", "trigger", rec.Trigger, "tenants", len(tenants), "sections", len(sections))
	// Not retried: with storage down at the start, failing at once with
	// storage's error is clearer than waiting, and nothing is written yet.
	// The record returned says failed, though it is stored nowhere.
	if err := save(ctx, rec); err != nil {
		err = fmt.Errorf("run: run record not written, run not started: %w", err)
		rec.State, rec.Reason, rec.Finished = StateFailed, err.Error(), r.now()
		return rec, err
	}
	fail := func(err error) (Record, error) {
		// A step that failed because ctx ended was cut short, not broken:
		// say so, and by what.
		if cs := (*CutShortError)(nil); ctx.Err() != nil && !errors.As(err, &cs) {
			err = &CutShortError{Cause: context.Cause(ctx), Total: rec.TenantsTotal, Collected: rec.TenantsDone, Err: err}
		}
		rec.State, rec.Reason, rec.Finished = StateFailed, err.Error(), r.now()
		if serr := r.saveLast(ctx, log, save, rec); serr != nil {
			log.ErrorContext(ctx, "failed run's record not written", "error", serr)
		}
		return rec, err
	}

	removeOrphanSpools(r.SpoolDir, log)
	dir, err := newSpoolDir(r.SpoolDir, rec.RunID)
	if err != nil {
		return fail(fmt.Errorf("run: spool directory: %w", err))
	}
	defer os.RemoveAll(dir)

	if p, ok := r.Collector.(interface{ Preflight(context.Context) error }); ok {
		if err := p.Preflight(ctx); err != nil {
			return fail(fmt.Errorf("run: %s", explain(err)))
		}
	}
	// Each tenant is surveyed (its size, for its budgets and the run's
	// prediction) and then collected. When every tenant is collected at
	// once, each starts as soon as its own survey is in; otherwise all are
	// surveyed first, so the largest start first.
	mark := r.Collector.Mark()
	sv := r.survey(ctx, tenants)
	progress := newRecordWriter(ctx, log, save)
	var (
		mu      sync.Mutex // rec's prediction, current and the Progress calls
		plan    *graphdata.Plan
		current = rec // the record as last written
		// beforeCut are the tenants whose collection ended while ctx was
		// live: the others were cut short if ctx ends.
		beforeCut = map[string]bool{}
	)
	planned := make(chan struct{})
	go func() {
		defer close(planned)
		p := r.Collector.Plan(sv.planned(tenants, sections), mark)
		mu.Lock()
		defer mu.Unlock()
		plan = p
		rec.Expected = r.now().Add(p.Remaining())
		rec.Predicted = rec.Expected.Sub(rec.Started)
		log.InfoContext(ctx, "run planned", "predicted", rec.Predicted, "expected_finish", rec.Expected)
		current.Predicted, current.Expected = rec.Predicted, rec.Expected
		progress.update(current)
		if r.Progress != nil {
			r.Progress(current.Info, nil)
		}
	}()
	if len(tenants) > r.Parallel {
		<-planned
	}
	results := r.collect(ctx, log, dir, tenants, sv, sections, func(done []TenantResult, last TenantResult) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() == nil {
			beforeCut[last.TenantID] = true
		}
		current.TenantsDone, current.Tenants = len(done), done
		if plan != nil {
			current.Expected = r.now().Add(plan.Remaining())
		}
		progress.update(current)
		if r.Progress != nil {
			r.Progress(current.Info, &last)
		}
	})
	<-planned
	progress.close()
	if ctx.Err() != nil {
		// Stopped mid-collection (the handler is shutting down): no
		// workbook of a part of the tenants, but a record of which were
		// read and which were not.
		cs := &CutShortError{Cause: context.Cause(ctx), Total: len(tenants)}
		rec.Tenants = []TenantResult{}
		for _, res := range results {
			if beforeCut[res.TenantID] {
				rec.Tenants = append(rec.Tenants, res.TenantResult)
			} else {
				cs.Missing = append(cs.Missing, res.DisplayName)
			}
		}
		rec.TenantsDone, cs.Collected = len(rec.Tenants), len(rec.Tenants)
		return fail(cs)
	}
	rec.Collected, rec.Expected = r.now(), time.Time{}
	rec.TenantsDone = len(results)
	rec.Tenants = make([]TenantResult, len(results))
	for i, res := range results {
		rec.Tenants[i] = res.TenantResult
	}

	// Dated by the request, so every attempt of one run writes the same names.
	dated := cmp.Or(rec.Requested, rec.Started)
	workbook := ReportName(dated, rec.RunID)
	n, err := r.assemble(ctx, workbook, r.reportOf(rec, results, sections))
	if err != nil {
		return fail(err)
	}
	rec.Report, rec.ReportBytes = workbook, n
	var notWritten string // why some tenants have no workbook of their own
	if r.TenantWorkbooks {
		notWritten = r.tenantWorkbooks(ctx, log, dated, &rec, results, sections)
	}
	// A tenant is partial when a section is not available too (no licence,
	// no consent): that is the tenant's state, not a failure of the run.
	c := rec.Counts()
	sectionFailed := slices.ContainsFunc(rec.Tenants, func(t TenantResult) bool {
		return slices.ContainsFunc(t.Sections, func(s graphdata.SectionResult) bool { return s.Status == graphdata.SectionFailed })
	})
	switch {
	case c.Failed > 0 && c.Failed == len(rec.Tenants):
		rec.State, rec.Reason = StateFailed, "every tenant failed; see the report's Run status"
	case c.Failed > 0 || sectionFailed:
		rec.State = StatePartial
	default:
		rec.State = StateSucceeded
	}
	if notWritten != "" {
		// The combined workbook is whole; a customer's own copy is missing.
		if rec.State == StateSucceeded {
			rec.State = StatePartial
		}
		rec.Reason = strings.TrimPrefix(rec.Reason+"; "+notWritten, "; ")
	}
	rec.Finished = r.now()
	if err := r.saveLast(ctx, log, save, rec); err != nil {
		// The workbook is complete; the stored record still says running.
		return rec, fmt.Errorf("run: report %s uploaded, but its run record not written: %w", rec.Report, err)
	}
	log.InfoContext(ctx, "run finished", "state", rec.State, "report", rec.Report, "bytes", rec.ReportBytes,
		"tenants_ok", c.OK, "tenants_partial", c.Partial, "tenants_failed", c.Failed, "duration", rec.Finished.Sub(rec.Started))
	if rec.State == StateFailed {
		return rec, ErrAllTenantsFailed
	}
	return rec, nil
}

// tenantWorkbooks writes the workbook of each tenant of results, in turn,
// so memory stays that of one workbook, and names it on the tenant's entry
// in rec.Tenants (which are in the order of results). A failed tenant gets
// one too: its Summary and Run status say why it has no rows. One upload
// that fails does not stop the others, but once the run is stopped or
// storage does not answer, the rest are not tried: each would fail alike,
// storage after its retries (seconds a tenant). It returns why some tenants
// have no workbook ("" when all have one): which, the first error, and what
// stopped the rest.
func (r *Runner) tenantWorkbooks(ctx context.Context, log *slog.Logger, dated time.Time, rec *Record, results []tenantRun, sections []string) string {
	start := time.Now()
	var (
		missing     []string
		first, stop error // stop, once set, is why the rest are not tried
	)
	for i := range results {
		t := &rec.Tenants[i]
		if stop == nil && ctx.Err() != nil {
			stop = fmt.Errorf("cut short: %w", context.Cause(ctx))
		}
		if stop != nil {
			for _, rest := range rec.Tenants[i:] {
				missing = append(missing, rest.DisplayName)
			}
			log.WarnContext(ctx, "tenant workbooks not tried", "tenants", len(results)-i, "error", stop)
			if first == nil {
				first = stop
			}
			break
		}
		name := TenantReportName(dated, rec.RunID, t.TenantID)
		n, err := r.assemble(ctx, name, r.reportOf(*rec, results[i:i+1], sections))
		if err == nil {
			t.Report, t.ReportBytes = name, n
			continue
		}
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("cut short: %w", context.Cause(ctx))
			stop = err
		case errors.Is(err, reportstore.ErrUnreachable):
			stop = err
		}
		log.WarnContext(ctx, "tenant workbook not written", "tenant", t.TenantID, "error", err)
		missing = append(missing, t.DisplayName)
		if first == nil {
			first = err
		}
	}
	log.InfoContext(ctx, "tenant workbooks written", "written", len(results)-len(missing), "tenants", len(results),
		"duration", time.Since(start))
	if len(missing) == 0 {
		return ""
	}
	names := missing[:min(len(missing), maxMissing)]
	why := fmt.Sprintf("tenant workbook not written for %d of %d tenants: %s", len(missing), len(results), strings.Join(names, ", "))
	if n := len(missing) - len(names); n > 0 {
		why += fmt.Sprintf(" and %d more", n)
	}
	why += "; " + first.Error()
	if stop != nil && stop != first {
		why += "; then " + stop.Error()
	}
	return why
}

// tenantRun is a tenant's result and where its rows were spooled.
type tenantRun struct {
	TenantResult
	// spools are the spool files by section, of a tenant that did not fail.
	spools map[string]string
}

// survey is what the run learns of its tenants' sizes, as it arrives.
type survey struct {
	sizes  []graphdata.Size
	failed []bool
	ready  []chan struct{} // closed when a tenant's survey is in
	wg     sync.WaitGroup
}

// survey asks every tenant its size at once. A tenant that does not
// answer is unknown: its Collect will say why.
func (r *Runner) survey(ctx context.Context, tenants []settings.Tenant) *survey {
	sv := &survey{sizes: make([]graphdata.Size, len(tenants)), failed: make([]bool, len(tenants)), ready: make([]chan struct{}, len(tenants))}
	for i, t := range tenants {
		sv.ready[i] = make(chan struct{})
		sv.wg.Go(func() {
			defer close(sv.ready[i])
			var err error
			sv.sizes[i], err = r.Collector.Survey(ctx, t)
			sv.failed[i] = err != nil
		})
	}
	return sv
}

// size waits for tenant i's survey and returns what it found.
func (sv *survey) size(i int) graphdata.Size {
	<-sv.ready[i]
	return sv.sizes[i]
}

// planned waits for every survey and returns the tenants that answered.
func (sv *survey) planned(tenants []settings.Tenant, sections []string) []graphdata.Planned {
	sv.wg.Wait()
	var planned []graphdata.Planned
	for i, t := range tenants {
		if !sv.failed[i] {
			planned = append(planned, graphdata.Planned{Tenant: t.ID, Size: sv.sizes[i], Sections: sections})
		}
	}
	return planned
}

// collect reads the sections of every tenant into dir and returns the
// results in report order. After each tenant it calls done with the
// results so far, in report order, and the one that finished, never
// concurrently. Each tenant is collected once its survey is in. When not
// all tenants are collected at once, the surveys are all in and the
// tenants with the most to read start first: with Premium, the longest
// chains of the slowest budget (sign-in activity) are theirs, and the last
// of those chains decides when the run finishes.
func (r *Runner) collect(ctx context.Context, log *slog.Logger, dir string, tenants []settings.Tenant, sv *survey, sections []string, done func([]TenantResult, TenantResult)) []tenantRun {
	results := make([]tenantRun, len(tenants))
	var (
		mu       sync.Mutex
		finished []TenantResult
	)
	order := make([]int, len(tenants))
	for i := range order {
		order[i] = i
	}
	if len(tenants) > r.Parallel {
		slices.SortStableFunc(order, func(a, b int) int {
			sa, sb := sv.sizes[a], sv.sizes[b]
			if pa, pb := sa.Premium == nil || *sa.Premium, sb.Premium == nil || *sb.Premium; pa != pb {
				if pa {
					return -1
				}
				return 1
			}
			return cmp.Compare(sb.Users, sa.Users)
		})
	}
	var g errgroup.Group // not WithContext: one tenant's failure must not cancel the others
	g.SetLimit(max(r.Parallel, 1))
	for _, i := range order {
		g.Go(func() error {
			job := graphdata.Job{Tenant: tenants[i], Sections: sections, Size: sv.size(i)}
			results[i] = r.collectTenant(ctx, log, job, filepath.Join(dir, fmt.Sprintf("tenant-%d", i)))
			mu.Lock()
			defer mu.Unlock()
			finished = append(finished, results[i].TenantResult)
			slices.SortStableFunc(finished, reportOrder)
			done(slices.Clone(finished), results[i].TenantResult)
			return nil
		})
	}
	_ = g.Wait() // the goroutines never return an error
	slices.SortStableFunc(results, func(a, b tenantRun) int { return reportOrder(a.TenantResult, b.TenantResult) })
	return results
}

// reportOrder orders tenants by display name, then id, so two runs over the
// same data are identical.
func reportOrder(a, b TenantResult) int {
	return cmp.Or(cmp.Compare(strings.ToLower(a.DisplayName), strings.ToLower(b.DisplayName)), cmp.Compare(a.TenantID, b.TenantID))
}

func (r *Runner) collectTenant(ctx context.Context, log *slog.Logger, job graphdata.Job, spoolPrefix string) tenantRun {
	t := job.Tenant
	start := time.Now()
	tr := tenantRun{TenantResult: TenantResult{TenantID: t.ID, DisplayName: t.Name()}}
	log = log.With("tenant", t.ID)
	if r.TenantTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, r.TenantTimeout, &graphdata.TimeLimitError{Limit: r.TenantTimeout})
		defer cancel()
	}

	spools := map[string]*spoolWriter{}
	var mu sync.Mutex // sections are read at the same time
	res, err := r.Collector.Collect(ctx, job, func(name string, row any) error {
		mu.Lock()
		defer mu.Unlock()
		sw := spools[name]
		if sw == nil {
			var err error
			if sw, err = createSpool(spoolPrefix+"-"+name+".spool", spoolHeader{Section: name, Tenant: t.ID}); err != nil {
				return err
			}
			spools[name] = sw
		}
		r, ok := row.(section.Row)
		if !ok {
			return fmt.Errorf("run: section %s: %T is not a section.Row", name, row)
		}
		return sw.write(r)
	})
	paths := make(map[string]string, len(spools))
	for name, sw := range spools {
		if cerr := sw.close(); err == nil {
			err = cerr
		}
		paths[name] = sw.path
	}
	// Graph promises no order: sort each section by a stable key so two
	// runs over the same directory write the same workbook. (A small one
	// was sorted as it was written.)
	for name, sw := range spools {
		if err == nil && !sw.sorted {
			err = sortSpool(paths[name])
		}
	}
	tr.Duration = time.Since(start)
	if err != nil {
		tr.Requests, tr.Throttled, tr.Sections = res.Requests, res.Throttled, res.Sections
		// Partial rows of a failed tenant would read as complete data.
		for _, p := range paths {
			os.Remove(p)
		}
		if limit := (*graphdata.TimeLimitError)(nil); errors.As(context.Cause(ctx), &limit) {
			err = limit
		}
		tr.Status, tr.Error = StatusFailed, explain(err)
		log.WarnContext(ctx, "tenant failed", "error", err, "duration", tr.Duration)
		return tr
	}
	if t.DisplayName == "" && res.Organization.DisplayName != "" {
		tr.DisplayName = res.Organization.DisplayName
	}
	tr.spools = paths
	tr.Result = res
	// ok means every section was read; a section the tenant cannot serve
	// (no licence, no consent) is not a failure of the run, but the tenant
	// is not fully reported either.
	tr.Status = StatusOK
	failed := 0
	for _, s := range res.Sections {
		switch s.Status {
		case graphdata.SectionFailed:
			failed++
			tr.Status = StatusPartial
			log.WarnContext(ctx, "section failed", "section", s.Section, "reason", s.Reason)
		case graphdata.SectionUnavailable:
			tr.Status = StatusPartial
			log.InfoContext(ctx, "section not available", "section", s.Section, "reason", s.Reason)
		}
	}
	if failed > 0 && failed == len(res.Sections) {
		tr.Status, tr.Error = StatusFailed, "every section failed; see Run status"
	}
	log.InfoContext(ctx, "tenant collected", "status", tr.Status, "users", res.Users, "requests", res.Requests, "duration", tr.Duration)
	return tr
}

// assemble streams the workbook from the spools into the store and returns
// its size. The writer goroutine ends when the workbook is written or the
// upload stops reading (pr.CloseWithError unblocks it).
func (r *Runner) assemble(ctx context.Context, name string, rep report.Run) (int64, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := report.Write(pw, rep)
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

// explain is the failure as a report reader should see it: an error that
// explains itself (a diagnosed token failure, without the package
// prefixes), anything else as it is.
func explain(err error) string {
	if e := (interface{ Explain() string })(nil); errors.As(err, &e) {
		return e.Explain()
	}
	return err.Error()
}

// reportOf is what the workbook of results shows; its rows are read from
// the spools as it is written.
func (r *Runner) reportOf(rec Record, results []tenantRun, sections []string) report.Run {
	tenants := make([]report.Tenant, len(results))
	for i, t := range results {
		tenants[i] = report.Tenant{ID: t.TenantID, Name: t.DisplayName, Status: string(t.Status), Error: t.Error,
			Duration: t.Duration, Result: t.Result}
		if t.spools != nil {
			spools := t.spools
			tenants[i].Rows = func(name string) iter.Seq2[section.Row, error] {
				sec, _ := section.Lookup(name)
				if spools[name] == "" || sec.Decode == nil {
					return func(func(section.Row, error) bool) {}
				}
				return readSpool(spools[name], sec.Decode)
			}
		}
	}
	return report.Run{ID: rec.RunID, Trigger: rec.Trigger, Started: rec.Started, Collected: rec.Collected, Version: r.Version,
		Thresholds: r.Highlights, Sections: sections, Tenants: tenants}
}
