// Package report shapes one run's data into the workbook people read:
// Summary (a row per tenant, with notes and a chart), a sheet per section
// from the section registry, and Run status (tenant × section).
//
// It reads rows through [Tenant].Rows and writes through package workbook;
// where the rows were kept (run's spool files) is not its business.
//
// # Example
//
//	err := report.Write(w, report.Run{ID: id, Trigger: "timer", Started: t0, Finished: t1,
//		Sections: []string{"users", "devices"}, Tenants: tenants})
package report

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/workbook"
)

// ErrUnreadableRow is wrapped by a Rows error for one row that cannot be
// read back: the row is left out and counted as a warning of its section;
// any other error fails the workbook.
var ErrUnreadableRow = errors.New("report: row cannot be read back")

// Tenant is one tenant's part of the report.
type Tenant struct {
	ID   string
	Name string
	// Status is ok, partial or failed.
	Status   string
	Error    string
	Duration time.Duration
	graphdata.Result
	// Rows yields the tenant's rows of a section in order; nil for a tenant
	// without rows.
	Rows func(section string) iter.Seq2[section.Row, error]
}

// Run is what the workbook reports.
type Run struct {
	ID       string
	Trigger  string
	Started  time.Time
	Finished time.Time
	// Sections are the sections of the run: each with a sheet gets one.
	Sections []string
	// Tenants in report order.
	Tenants []Tenant
}

// Write writes the workbook of run to w.
func Write(w io.Writer, run Run) error {
	warnings := map[[2]string]int{} // tenant id, section → rows that could not be read back
	sheets := []workbook.Sheet{{
		Name: "Summary", Columns: summaryColumns, Rows: summaryRows(run.Tenants),
		Chart: &workbook.Chart{Title: "MFA coverage and secure score", Category: "Tenant", Series: []string{"MFA coverage", "Secure score"}, Percent: true},
	}}
	for _, sec := range section.All() {
		if !sec.HasSheet() || !slices.Contains(run.Sections, sec.Name) {
			continue
		}
		sheets = append(sheets, workbook.Sheet{Name: sec.Sheet, Columns: sheetColumns(sec), Rows: sectionRows(run.Tenants, sec, warnings)})
	}
	// Run status comes last, so it counts the rows the sheets before it
	// could not read back.
	sheets = append(sheets, workbook.Sheet{Name: "Run status", Columns: runStatusColumns, Rows: runStatusRows(run.Tenants, warnings)})
	return workbook.Write(w, sheets...)
}

// sheetColumns are a section's columns after Tenant and Tenant ID: two
// customers can share a display name.
func sheetColumns(sec section.Section) []workbook.Column {
	cols := []workbook.Column{{Header: "Tenant", Kind: workbook.Text, Width: 28}, {Header: "Tenant ID", Kind: workbook.Text, Width: 38}}
	for _, c := range sec.Columns {
		cols = append(cols, workbook.Column{Header: c.Header, Kind: kinds[c.Kind], Width: c.Width, Flag: c.Flag})
	}
	return cols
}

var kinds = map[section.Kind]workbook.Kind{
	section.Text: workbook.Text, section.Int: workbook.Int, section.Float: workbook.Float,
	section.Bool: workbook.Bool, section.Time: workbook.Time, section.Percent: workbook.Percent,
}

// sectionRows are the rows of sec, tenant after tenant in report order.
func sectionRows(tenants []Tenant, sec section.Section, warnings map[[2]string]int) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		row := make([]any, 0, 2+len(sec.Columns))
		for _, t := range tenants {
			if t.Rows == nil {
				continue
			}
			for r, err := range t.Rows(sec.Name) {
				if errors.Is(err, ErrUnreadableRow) {
					warnings[[2]string{t.ID, sec.Name}]++
					continue
				}
				if err != nil {
					yield(nil, err)
					return
				}
				row = append(append(row[:0], t.Name, t.ID), r.Cells()...)
				if !yield(row, nil) {
					return
				}
			}
		}
	}
}

var summaryColumns = []workbook.Column{
	{Header: "Tenant", Kind: workbook.Text, Width: 28},
	{Header: "Tenant ID", Kind: workbook.Text, Width: 38},
	{Header: "Status", Kind: workbook.Text, Width: 10},
	{Header: "Users (incl. guests)", Kind: workbook.Int},
	{Header: "Enabled users", Kind: workbook.Int},
	{Header: "Guests", Kind: workbook.Int},
	{Header: "Inactive 90 days (incl. disabled)", Kind: workbook.Int},
	{Header: "MFA coverage", Kind: workbook.Percent},
	{Header: "Admins without MFA", Kind: workbook.Int},
	{Header: "Role assignments", Kind: workbook.Int},
	{Header: "Unassigned licences", Kind: workbook.Int},
	{Header: "Expired credentials", Kind: workbook.Int},
	{Header: "Credentials expiring in 30 days", Kind: workbook.Int},
	{Header: "Secure score", Kind: workbook.Percent},
	{Header: "Graph requests", Kind: workbook.Int},
	{Header: "Throttled", Kind: workbook.Int},
	{Header: "Duration (s)", Kind: workbook.Float},
	{Header: "Not fully read", Kind: workbook.Bool, Flag: true},
	{Header: "Notes", Kind: workbook.Text, Width: 80},
}

// summaryRows has a row per tenant.
func summaryRows(tenants []Tenant) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, t := range tenants {
			// A figure whose section was not read is unknown: a blank cell,
			// never a zero.
			ok := func(name string, v any) any {
				if s, _ := t.Section(name); s.Status == graphdata.SectionOK {
					return v
				}
				return nil
			}
			var mfa, score any
			if t.MFAMembers > 0 {
				mfa = ok("mfa", float64(t.MFARegistered)/float64(t.MFAMembers))
			}
			if t.SecureScore != nil {
				score = ok("securescore", t.SecureScore.Percent())
			}
			row := []any{t.Name, t.ID, t.Status,
				ok("users", t.Users), ok("users", t.EnabledUsers), ok("users", t.Guests), ok("signin", t.InactiveUsers),
				mfa, ok("mfa", t.AdminsWithoutMFA), ok("roles", t.RoleAssignments), ok("licences", t.UnusedLicences),
				ok("appcredentials", t.ExpiredCredentials), ok("appcredentials", t.ExpiringCredentials), score,
				t.Requests, t.Throttled, t.Duration.Seconds(), t.Status != "ok", Notes(t.Error, t.Sections)}
			if !yield(row, nil) {
				return
			}
		}
	}
}

// Notes says what of a tenant was not read and why: its error when it
// could not be reached, else the failed sections with their reasons and the
// sections not available, grouped by reason.
func Notes(tenantErr string, sections []graphdata.SectionResult) string {
	if len(sections) == 0 {
		return tenantErr
	}
	var failed []string
	var reasons []string
	unavailable := map[string][]string{}
	for _, s := range sections {
		switch s.Status {
		case graphdata.SectionFailed:
			failed = append(failed, title(s.Section)+" ("+s.Reason+")")
		case graphdata.SectionUnavailable:
			if _, seen := unavailable[s.Reason]; !seen {
				reasons = append(reasons, s.Reason)
			}
			unavailable[s.Reason] = append(unavailable[s.Reason], title(s.Section))
		}
	}
	var parts []string
	if len(failed) > 0 {
		parts = append(parts, "failed: "+strings.Join(failed, "; "))
	}
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("not available: %s (%s)", strings.Join(unavailable[r], ", "), r))
	}
	return strings.Join(parts, "; ")
}

// title is how people see a section's name.
func title(name string) string {
	if s, ok := section.Lookup(name); ok && s.Title != "" {
		return s.Title
	}
	return name
}

var runStatusColumns = []workbook.Column{
	{Header: "Tenant", Kind: workbook.Text, Width: 28},
	{Header: "Tenant ID", Kind: workbook.Text, Width: 38},
	{Header: "Section", Kind: workbook.Text, Width: 20},
	{Header: "Status", Kind: workbook.Text, Width: 14},
	{Header: "Rows", Kind: workbook.Int},
	{Header: "Warnings", Kind: workbook.Int},
	{Header: "Graph requests", Kind: workbook.Int},
	{Header: "Throttled", Kind: workbook.Int},
	{Header: "Duration (s)", Kind: workbook.Float},
	{Header: "Reason", Kind: workbook.Text, Width: 100},
}

// runStatusRows has a row per tenant and section, or one row for a tenant
// that could not be reached at all, so no gap goes unexplained.
func runStatusRows(tenants []Tenant, warnings map[[2]string]int) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, t := range tenants {
			if len(t.Sections) == 0 {
				if !yield([]any{t.Name, t.ID, "(all)", t.Status, nil, nil, t.Requests, t.Throttled, t.Duration.Seconds(), t.Error}, nil) {
					return
				}
				continue
			}
			for _, s := range t.Sections {
				w := s.Warnings + warnings[[2]string{t.ID, s.Section}]
				if !yield([]any{t.Name, t.ID, title(s.Section), string(s.Status), s.Rows, w, s.Requests, s.Throttled, s.Duration.Seconds(), s.Reason}, nil) {
					return
				}
			}
		}
	}
}
