package run

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// State is where a run is in its life. A run moves queued → running → one
// of the finished states; a failed attempt that will be retried goes back to
// queued with the reason.
type State string

const (
	StateQueued  State = "queued"
	StateRunning State = "running"
	// StateSucceeded: every tenant and section that could be read was read.
	StateSucceeded State = "succeeded"
	// StatePartial: a report exists, but some tenants or sections failed,
	// or a tenant's own workbook was not written (Reason says whose).
	StatePartial State = "partial"
	// StateFailed: no report, or a report in which every tenant failed;
	// Record.Reason says why.
	StateFailed State = "failed"
)

// Finished reports whether s is a final state.
func (s State) Finished() bool {
	return s == StateSucceeded || s == StatePartial || s == StateFailed
}

// Request is what a run is asked to do. It is the body of a run-queue
// message; Tenants and Sections empty mean every configured tenant and
// every enabled section.
type Request struct {
	RunID     string    `json:"runId"`
	Trigger   string    `json:"trigger"`
	Tenants   []string  `json:"tenants,omitempty"`
	Sections  []string  `json:"sections,omitempty"`
	Requested time.Time `json:"requested"`
}

// Info is what a run record says of the run as a whole.
type Info struct {
	RunID   string `json:"runId"`
	Trigger string `json:"trigger"`
	State   State  `json:"state"`
	// Reason explains a failed run, a failed attempt being retried, or
	// the tenants' own workbooks a finished run could not write.
	Reason string `json:"reason,omitempty"`
	// RequestedTenants and RequestedSections are the request's subsets;
	// empty means all.
	RequestedTenants  []string  `json:"requestedTenants,omitempty"`
	RequestedSections []string  `json:"requestedSections,omitempty"`
	Requested         time.Time `json:"requested,omitzero"`
	Started           time.Time `json:"started,omitzero"`
	// Collected is when the last tenant was read; the workbook was
	// written and uploaded between then and Finished.
	Collected time.Time `json:"collected,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	// Attempts counts the deliveries of an on-demand run that started it.
	Attempts     int `json:"attempts,omitempty"`
	TenantsTotal int `json:"tenantsTotal"`
	TenantsDone  int `json:"tenantsDone"`
	// Predicted is the run's collection time (from Started) at best, from
	// the tenants' sizes and Graph's budgets, as predicted once they were
	// surveyed; Expected is when collection should finish, updated as
	// tenants finish.
	Predicted time.Duration `json:"predictedNs,omitempty"`
	Expected  time.Time     `json:"expectedFinish,omitzero"`
	// Report is the combined workbook's name in the store, set once it is
	// uploaded; each tenant's own is on its [TenantResult].
	Report      string `json:"report,omitempty"`
	ReportBytes int64  `json:"reportBytes,omitempty"`
}

// Record is the run record stored next to the report as runs/<runId>.json.
// It is written when a run is accepted or starts, rewritten as tenants
// finish, and finalised at the end.
type Record struct {
	Info
	Tenants []TenantResult `json:"tenants"`
}

// Counts are the tenants of a record by status.
type Counts struct {
	OK      int `json:"ok"`
	Partial int `json:"partial"`
	Failed  int `json:"failed"`
}

// Counts returns how many of the finished tenants ended in each status.
func (r Record) Counts() Counts {
	var c Counts
	for _, t := range r.Tenants {
		switch t.Status {
		case StatusOK:
			c.OK++
		case StatusPartial:
			c.Partial++
		case StatusFailed:
			c.Failed++
		}
	}
	return c
}

// TenantWorkbooks counts the tenants with a workbook of their own.
func (r Record) TenantWorkbooks() int {
	n := 0
	for _, t := range r.Tenants {
		if t.Report != "" {
			n++
		}
	}
	return n
}

// WorkbookReady reports whether the run is finished and its workbook
// stored: what a download serves.
func (r Record) WorkbookReady() bool { return r.State.Finished() && r.HasReport() }

// TenantWorkbookReady reports whether the run is finished and tenant id's
// own workbook stored.
func (r Record) TenantWorkbookReady(id string) bool {
	t, ok := r.Tenant(id)
	return ok && t.Report != "" && r.State.Finished()
}

// HasReport reports whether the run uploaded its workbook.
func (r Record) HasReport() bool { return r.Report != "" && r.ReportBytes > 0 }

// Tenant returns the result of the tenant with id (any case) in the run,
// whose Report names the tenant's own workbook if it was written.
func (r Record) Tenant(id string) (TenantResult, bool) {
	i := slices.IndexFunc(r.Tenants, func(t TenantResult) bool { return strings.EqualFold(t.TenantID, id) })
	if i < 0 {
		return TenantResult{}, false
	}
	return r.Tenants[i], true
}

// ReportName is where the workbook of runID is stored:
// "reports/YYYY/MM/DD/<runID>.xlsx", dated with the UTC date of t.
func ReportName(t time.Time, runID string) string {
	return t.UTC().Format("reports/2006/01/02/") + runID + ".xlsx"
}

// TenantReportName is where the workbook of one tenant of runID is stored,
// beside the run's combined one ([ReportName] of the same t):
// "reports/YYYY/MM/DD/<runID>/<tenantID>.xlsx", the tenant id in lower
// case. Readers take the name from the tenant's [TenantResult].Report
// rather than build it from input.
func TenantReportName(t time.Time, runID, tenantID string) string {
	return t.UTC().Format("reports/2006/01/02/") + runID + "/" + strings.ToLower(tenantID) + ".xlsx"
}

// RecordName is where the record of runID is stored.
func RecordName(runID string) string { return recordPrefix + runID + ".json" }

const recordPrefix = "runs/"

// runIDPattern is the grammar of run ids: the UTC time the run was
// requested, to the millisecond (to the second in ids of earlier
// versions), and 6 hex digits. Everything that names a run from outside is
// checked against it before it touches storage.
var runIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}([0-9]{3})?Z-[0-9a-f]{6}$`)

// ValidRunID reports whether id is a run id.
func ValidRunID(id string) bool { return len(id) <= 32 && runIDPattern.MatchString(id) }

// newRunID is sortable by start time and unique across instances.
func newRunID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	t = t.UTC()
	return t.Format("20060102T150405") + fmt.Sprintf("%03dZ-", t.Nanosecond()/1e6) + hex.EncodeToString(b[:])
}

// ErrUnknown is wrapped by the [*settings.FieldError] of a request naming a
// tenant or section that is not configured.
var ErrUnknown = errors.New("not configured")

// NewRequest returns a request for a new run of the given tenant ids and
// sections, which must be subsets of the runner's (nil: all). The error
// joins one [*settings.FieldError] per unknown tenant or section, named
// like "tenants[1]".
func (r *Runner) NewRequest(trigger string, tenants, sections []string) (Request, error) {
	now := r.now()
	req := Request{RunID: newRunID(now), Trigger: trigger, Requested: now}
	var errs []error
	for i, id := range tenants {
		id = strings.ToLower(strings.TrimSpace(id))
		if !slices.ContainsFunc(r.Tenants, func(t settings.Tenant) bool { return t.ID == id }) {
			errs = append(errs, &settings.FieldError{Field: fmt.Sprintf("tenants[%d]", i), Value: tenants[i], Err: ErrUnknown})
			continue
		}
		if !slices.Contains(req.Tenants, id) {
			req.Tenants = append(req.Tenants, id)
		}
	}
	for i, s := range sections {
		s = strings.ToLower(strings.TrimSpace(s))
		if !slices.Contains(r.Sections, s) {
			errs = append(errs, &settings.FieldError{Field: fmt.Sprintf("sections[%d]", i), Value: sections[i],
				Err: fmt.Errorf("%w: enabled sections are %s", ErrUnknown, strings.Join(r.Sections, ", "))})
			continue
		}
		if !slices.Contains(req.Sections, s) {
			req.Sections = append(req.Sections, s)
		}
	}
	return req, errors.Join(errs...)
}

// scope returns the tenants and sections req asks for, in configured order.
func (r *Runner) scope(req Request) ([]settings.Tenant, []string) {
	tenants, sections := r.Tenants, r.Sections
	if len(req.Tenants) > 0 {
		tenants = slices.DeleteFunc(slices.Clone(tenants), func(t settings.Tenant) bool { return !slices.Contains(req.Tenants, t.ID) })
	}
	if len(req.Sections) > 0 {
		sections = slices.DeleteFunc(slices.Clone(sections), func(s string) bool { return !slices.Contains(req.Sections, s) })
	}
	return tenants, sections
}

// QueuedRecord is the record of a request that waits in the run queue.
func QueuedRecord(req Request) Record {
	return Record{Info: Info{RunID: req.RunID, Trigger: req.Trigger, State: StateQueued, RequestedTenants: req.Tenants,
		RequestedSections: req.Sections, Requested: req.Requested}, Tenants: []TenantResult{}}
}

// Opener reads stored objects. *reportstore.Store and *reportstore.Dir
// satisfy it.
type Opener interface {
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// ReadRecord reads the record of runID; an unknown run is an error
// wrapping [reportstore.ErrNotFound].
func ReadRecord(ctx context.Context, s Opener, runID string) (Record, error) {
	if !ValidRunID(runID) {
		return Record{}, fmt.Errorf("run: record: %w: not a run id", reportstore.ErrNotFound)
	}
	rc, err := s.Open(ctx, RecordName(runID))
	if err != nil {
		return Record{}, fmt.Errorf("run: record %s: %w", runID, err)
	}
	defer rc.Close()
	var rec Record
	if err := json.NewDecoder(rc).Decode(&rec); err != nil {
		return Record{}, fmt.Errorf("run: record %s: %w", runID, err)
	}
	return rec, nil
}

// Lister lists stored objects by prefix. *reportstore.Store and
// *reportstore.Dir satisfy it.
type Lister interface {
	List(ctx context.Context, prefix string) ([]reportstore.Item, error)
}

// RunIDs returns up to top run ids, newest first, that are older than after
// ("" = from the newest), and whether more follow.
func RunIDs(ctx context.Context, s Lister, top int, after string) ([]string, bool, error) {
	items, err := s.List(ctx, recordPrefix)
	if err != nil {
		return nil, false, fmt.Errorf("run: list records: %w", err)
	}
	var ids []string
	for _, it := range items {
		id, ok := strings.CutSuffix(strings.TrimPrefix(it.Name, recordPrefix), ".json")
		if ok && ValidRunID(id) && (after == "" || id < after) {
			ids = append(ids, id)
		}
	}
	// Run ids begin with their start time, so name order is time order.
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(b, a) })
	if len(ids) > top {
		return ids[:top], true, nil
	}
	return ids, false, nil
}

// Store reads run records and workbooks. *reportstore.Store and
// *reportstore.Dir satisfy it.
type Store interface {
	Lister
	Opener
}

// ListRecords returns up to top records, newest first, of runs older than
// after ("" = from the newest), and whether more follow. A record removed
// while listing is left out.
func ListRecords(ctx context.Context, s Store, top int, after string) ([]Record, bool, error) {
	ids, more, err := RunIDs(ctx, s, top, after)
	if err != nil {
		return nil, false, err
	}
	recs := make([]Record, len(ids))
	var g errgroup.Group
	g.SetLimit(8)
	for i, id := range ids {
		g.Go(func() error {
			rec, err := ReadRecord(ctx, s, id)
			if errors.Is(err, reportstore.ErrNotFound) {
				return nil
			}
			recs[i] = rec
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, false, err
	}
	return slices.DeleteFunc(recs, func(r Record) bool { return r.RunID == "" }), more, nil
}

// Latest returns the record of the newest finished run with a workbook; an
// error wrapping [reportstore.ErrNotFound] when there is none.
func Latest(ctx context.Context, s Store) (Record, error) {
	return LatestWhere(ctx, s, Record.WorkbookReady)
}

// LatestWhere returns the newest record that keep accepts.
func LatestWhere(ctx context.Context, s Store, keep func(Record) bool) (Record, error) {
	// RunIDs lists every record whatever top is; one pass is enough.
	ids, _, err := RunIDs(ctx, s, math.MaxInt, "")
	if err != nil {
		return Record{}, err
	}
	for _, id := range ids {
		rec, err := ReadRecord(ctx, s, id)
		if errors.Is(err, reportstore.ErrNotFound) {
			continue // removed since the listing
		}
		if err != nil {
			return rec, err
		}
		if keep(rec) {
			return rec, nil
		}
	}
	return Record{}, fmt.Errorf("run: latest: %w: no such run", reportstore.ErrNotFound)
}

// DownloadName is the file name a run's workbook is offered under:
// tenantreport-<yyyy-mm-dd>-<runId>.xlsx, dated like its name in the store
// (a run id begins with the UTC time it was requested).
func DownloadName(runID string) string {
	if !ValidRunID(runID) {
		return "tenantreport.xlsx"
	}
	return "tenantreport-" + runID[:4] + "-" + runID[4:6] + "-" + runID[6:8] + "-" + runID + ".xlsx"
}

// TenantDownloadName is the file name one tenant's workbook is offered
// under: DownloadName's, with the tenant's display name in letters, digits
// and hyphens (it goes into a Content-Disposition header), or its id.
func TenantDownloadName(runID, displayName, tenantID string) string {
	var b strings.Builder
	for _, r := range displayName {
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if name == "" || len(name) > 40 {
		name = tenantID
	}
	return strings.TrimSuffix(DownloadName(runID), ".xlsx") + "-" + name + ".xlsx"
}

// Summary is a run in a list: its record with tenant counts instead of
// the per-tenant detail.
type Summary struct {
	Info
	TenantCounts Counts `json:"tenantCounts"`
}

// Summary returns r as a run in a list.
func (r Record) Summary() Summary { return Summary{Info: r.Info, TenantCounts: r.Counts()} }

// EncodeRecord returns the stored form of rec.
func EncodeRecord(rec Record) io.Reader {
	if rec.Tenants == nil {
		rec.Tenants = []TenantResult{}
	}
	b, _ := json.MarshalIndent(rec, "", "  ") // a Record always marshals
	return bytes.NewReader(b)
}
