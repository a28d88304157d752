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
	"cmp"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/tenantreport/tenantreport/internal/directory"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
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

// mfaCoverage is the share of members registered for MFA, nil when the
// MFA section was not read.
func (t Tenant) mfaCoverage() *float64 {
	if s, _ := t.Section("mfa"); s.Status == graphdata.SectionOK && t.MFAMembers > 0 {
		return new(float64(t.MFARegistered) / float64(t.MFAMembers))
	}
	return nil
}

// secureScore is the share of the maximum score, nil when it was not read.
func (t Tenant) secureScore() *float64 {
	if s, _ := t.Section("securescore"); s.Status == graphdata.SectionOK && t.SecureScore != nil {
		return new(t.SecureScore.Percent())
	}
	return nil
}

// Run is what the workbook reports.
type Run struct {
	ID      string
	Trigger string
	Started time.Time
	// Collected is when the last tenant was read.
	Collected time.Time
	// Version is the tool's version, for the About sheet.
	Version    string
	Thresholds Thresholds
	// Sections are the sections of the run: each with a sheet gets one.
	Sections []string
	// Tenants in report order.
	Tenants []Tenant
}

// Thresholds are what Summary highlights, as fractions (0.9 = 90 %). The
// zero value is the settings' defaults.
type Thresholds struct {
	MFACoverage float64
	SecureScore float64
}

func (t Thresholds) orDefault() Thresholds {
	if t == (Thresholds{}) {
		d := settings.DefaultThresholds
		return Thresholds{MFACoverage: float64(d.MFAMinPercent) / 100, SecureScore: float64(d.ScoreMinPercent) / 100}
	}
	return t
}

// Sheet names the report uses besides the sections'.
const (
	summarySheet   = "Summary"
	chartSheet     = "Overview"
	runStatusSheet = "Run status"
	aboutSheet     = "About"
)

// Write writes the workbook of run to w.
func Write(w io.Writer, run Run) error {
	run.Thresholds = run.Thresholds.orDefault()
	// Values that could not be read back or written, by tenant id and
	// section: Run status, written after the section sheets, shows them.
	warnings := map[[2]string]int{}
	var current [2]string // the tenant and section of the row being written
	title := fmt.Sprintf("Tenant report: %d tenants", len(run.Tenants))
	if len(run.Tenants) == 1 {
		// One customer's own workbook, or a run of one tenant.
		title = "Tenant report: " + run.Tenants[0].Name
	}
	opts := workbook.Options{
		Title:       title,
		Subject:     "Microsoft Entra tenants",
		Description: fmt.Sprintf("Run %s (%s), started %s UTC", run.ID, run.Trigger, run.Started.UTC().Format(time.DateTime)),
		Creator:     "tenantreport",
		Created:     run.Started,
		// Called while the row is written, so current names its tenant.
		OnBadValue: func(string, string, int, any) { warnings[current]++ },
	}
	sheets := []workbook.Sheet{
		{Name: chartSheet, Columns: overviewColumns(run.Thresholds), Rows: overviewRows(run.Tenants),
			Chart: &workbook.Chart{Title: "MFA coverage and secure score by tenant, lowest MFA coverage first", Category: "Tenant",
				Series: []string{"MFA coverage", "Secure score"}, Percent: true, ValueTitle: "Share of users (MFA) or of the maximum score"}},
		{Name: summarySheet, Columns: summaryColumns(run.Thresholds), Rows: summaryRows(run.Tenants)},
	}
	for _, sec := range section.All() {
		if !sec.HasSheet() || !slices.Contains(run.Sections, sec.Name) {
			continue
		}
		sheets = append(sheets, workbook.Sheet{Name: sec.Sheet, Columns: sheetColumns(sec), Rows: sectionRows(run.Tenants, sec, warnings, &current)})
	}
	// Run status comes after the section sheets, so it counts what they
	// could not read back or write.
	sheets = append(sheets,
		workbook.Sheet{Name: runStatusSheet, Columns: runStatusColumns, Rows: runStatusRows(run.Tenants, warnings)},
		workbook.Sheet{Name: aboutSheet, Columns: aboutColumns, Rows: aboutRows(run)})
	return workbook.WriteWith(w, opts, sheets...)
}

// sheetColumns are a section's columns after Tenant and Tenant ID: two
// customers can share a display name.
func sheetColumns(sec section.Section) []workbook.Column {
	cols := []workbook.Column{{Header: "Tenant", Kind: workbook.Text, Width: 28}, {Header: "Tenant ID", Kind: workbook.Text, Width: 38}}
	for _, c := range sec.Columns {
		cols = append(cols, workbook.Column{Header: c.Header, Kind: kinds[c.Kind], Width: c.Width, Flag: c.Flag, Wrap: c.Wrap})
	}
	return cols
}

var kinds = map[section.Kind]workbook.Kind{
	section.Text: workbook.Text, section.Int: workbook.Int, section.Float: workbook.Float,
	section.Bool: workbook.Bool, section.Time: workbook.Time, section.Percent: workbook.Percent,
}

// sectionRows are the rows of sec, tenant after tenant in report order.
func sectionRows(tenants []Tenant, sec section.Section, warnings map[[2]string]int, current *[2]string) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		row := make([]any, 0, 2+len(sec.Columns))
		for _, t := range tenants {
			if t.Rows == nil {
				continue
			}
			*current = [2]string{t.ID, sec.Name}
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

func overviewColumns(th Thresholds) []workbook.Column {
	return []workbook.Column{
		{Header: "Tenant", Kind: workbook.Text, Width: 36},
		{Header: "MFA coverage", Kind: workbook.Percent, HighlightBelow: &th.MFACoverage},
		{Header: "Secure score", Kind: workbook.Percent, HighlightBelow: &th.SecureScore},
	}
}

// overviewRows are the chart's data: a row per tenant, lowest MFA coverage
// first, then lowest secure score; a tenant whose figures were not read is
// last and says so, so it is not mistaken for a zero.
func overviewRows(tenants []Tenant) iter.Seq2[[]any, error] {
	type bar struct {
		name       string
		mfa, score *float64
	}
	bars := make([]bar, len(tenants))
	for i, t := range tenants {
		b := bar{name: t.Name, mfa: t.mfaCoverage(), score: t.secureScore()}
		switch {
		case t.Status == "failed":
			b.name += " (failed)"
		case b.mfa == nil || b.score == nil:
			b.name += " (not all read)"
		}
		bars[i] = b
	}
	// Unknown sorts after every value.
	byValue := func(a, b *float64) int {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return 1
		case b == nil:
			return -1
		}
		return cmp.Compare(*a, *b)
	}
	slices.SortStableFunc(bars, func(a, b bar) int { return cmp.Or(byValue(a.mfa, b.mfa), byValue(a.score, b.score)) })
	return func(yield func([]any, error) bool) {
		for _, b := range bars {
			row := []any{b.name, nil, nil}
			if b.mfa != nil {
				row[1] = *b.mfa
			}
			if b.score != nil {
				row[2] = *b.score
			}
			if !yield(row, nil) {
				return
			}
		}
	}
}

// Summary's highlighted columns: the header says what is highlighted, as
// the sheet's legend.
func mfaHeader(th Thresholds) string {
	return fmt.Sprintf("MFA coverage (highlighted below %.0f%%)", th.MFACoverage*100)
}

func scoreHeader(th Thresholds) string {
	return fmt.Sprintf("Secure score (highlighted below %.0f%%)", th.SecureScore*100)
}

func summaryColumns(th Thresholds) []workbook.Column {
	zero := 0.0
	return []workbook.Column{
		{Header: "Tenant", Kind: workbook.Text, Width: 28},
		{Header: "Tenant ID", Kind: workbook.Text, Width: 38},
		{Header: "Status", Kind: workbook.Text, Width: 10},
		{Header: "Users (incl. guests)", Kind: workbook.Int},
		{Header: "Enabled users", Kind: workbook.Int},
		{Header: "Guests", Kind: workbook.Int},
		{Header: "Inactive 90 days (incl. disabled)", Kind: workbook.Int},
		{Header: mfaHeader(th), Kind: workbook.Percent, HighlightBelow: &th.MFACoverage},
		{Header: "Admins without MFA (highlighted above 0)", Kind: workbook.Int, HighlightAbove: &zero},
		{Header: "Role assignments", Kind: workbook.Int},
		{Header: "Unassigned licences", Kind: workbook.Int},
		{Header: "Expired credentials (highlighted above 0)", Kind: workbook.Int, HighlightAbove: &zero},
		{Header: "Credentials expiring in 30 days", Kind: workbook.Int},
		{Header: scoreHeader(th), Kind: workbook.Percent, HighlightBelow: &th.SecureScore},
		{Header: "Graph requests", Kind: workbook.Int},
		{Header: "Throttled", Kind: workbook.Int},
		{Header: "Duration (s)", Kind: workbook.Float},
		{Header: "Not fully read (row highlighted)", Kind: workbook.Bool, Flag: true},
		{Header: "Notes", Kind: workbook.Text, Width: 80, Wrap: true},
	}
}

// summaryRows has a row per tenant, its name linked to its rows in Run
// status, then a row of totals.
func summaryRows(tenants []Tenant) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		statusRow := 2 // Run status's first data row
		var total struct {
			users, enabled, guests, inactive, noMFA, roles, unused, expired, expiring, requests, throttled int
			mfaMembers, mfaRegistered                                                                      int
			duration                                                                                       time.Duration
		}
		for _, t := range tenants {
			// A figure whose section was not read is unknown: a blank cell,
			// never a zero.
			ok := func(name string, v int, sum *int) any {
				if s, _ := t.Section(name); s.Status == graphdata.SectionOK {
					*sum += v
					return v
				}
				return nil
			}
			var mfa, score any
			if c := t.mfaCoverage(); c != nil {
				mfa = *c
				total.mfaMembers += t.MFAMembers
				total.mfaRegistered += t.MFARegistered
			}
			if c := t.secureScore(); c != nil {
				score = *c
			}
			name := workbook.Link{Text: t.Name, Sheet: runStatusSheet, Cell: fmt.Sprintf("A%d", statusRow)}
			statusRow += max(len(t.Sections), 1)
			total.requests += t.Requests
			total.throttled += t.Throttled
			total.duration = max(total.duration, t.Duration)
			row := []any{name, t.ID, t.Status,
				ok("users", t.Users, &total.users), ok("users", t.EnabledUsers, &total.enabled), ok("users", t.Guests, &total.guests),
				ok("signin", t.InactiveUsers, &total.inactive), mfa, ok("mfa", t.AdminsWithoutMFA, &total.noMFA),
				ok("roles", t.RoleAssignments, &total.roles), ok("licences", t.UnusedLicences, &total.unused),
				ok("appcredentials", t.ExpiredCredentials, &total.expired), ok("appcredentials", t.ExpiringCredentials, &total.expiring), score,
				t.Requests, t.Throttled, t.Duration.Seconds(), t.Status != "ok", notesCell(Notes(t.Error, t.Sections))}
			if !yield(row, nil) {
				return
			}
		}
		if len(tenants) < 2 {
			return
		}
		var mfa any
		if total.mfaMembers > 0 {
			mfa = float64(total.mfaRegistered) / float64(total.mfaMembers)
		}
		yield([]any{fmt.Sprintf("All %d tenants", len(tenants)), nil, nil, total.users, total.enabled, total.guests, total.inactive,
			mfa, total.noMFA, total.roles, total.unused, total.expired, total.expiring, nil,
			total.requests, total.throttled, total.duration.Seconds(), nil, "Totals of the figures that were read; MFA coverage over all members; duration of the slowest tenant"}, nil)
	}
}

// notesCell is a tenant's notes, linked to the admin-consent URL when that
// is the fix.
func notesCell(notes string) any {
	if u := consentURL(notes); u != "" {
		return workbook.Link{Text: notes, URL: u}
	}
	return notes
}

// consentURL returns the admin-consent URL a diagnosis names, or "".
func consentURL(s string) string {
	i := strings.Index(s, "https://")
	if i < 0 {
		return ""
	}
	u, _, _ := strings.Cut(s[i:], " ")
	if !strings.Contains(u, "/adminconsent?") {
		return ""
	}
	return u
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
	{Header: "Status", Kind: workbook.Text, Width: 14, FlagUnless: "ok"},
	{Header: "Rows", Kind: workbook.Int},
	{Header: "Warnings", Kind: workbook.Int},
	{Header: "Graph requests", Kind: workbook.Int},
	{Header: "Throttled", Kind: workbook.Int},
	{Header: "Duration (s)", Kind: workbook.Float},
	{Header: "Reason", Kind: workbook.Text, Width: 80, Wrap: true},
}

// runStatusRows has a row per tenant and section, or one row for a tenant
// that could not be reached at all, so no gap goes unexplained.
func runStatusRows(tenants []Tenant, warnings map[[2]string]int) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, t := range tenants {
			if len(t.Sections) == 0 {
				if !yield([]any{t.Name, t.ID, "(all)", t.Status, nil, nil, t.Requests, t.Throttled, t.Duration.Seconds(), notesCell(t.Error)}, nil) {
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

var aboutColumns = []workbook.Column{
	{Header: "Item", Kind: workbook.Text, Width: 30},
	{Header: "Value", Kind: workbook.Text, Width: 90, Wrap: true},
}

// aboutRows say where the workbook comes from.
func aboutRows(run Run) iter.Seq2[[]any, error] {
	var titles []string
	for _, name := range run.Sections {
		titles = append(titles, title(name))
	}
	utc := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format(time.DateTime) + " UTC"
	}
	rows := [][]any{
		{"Run ID", run.ID},
		{"Trigger", run.Trigger},
		{"Started", utc(run.Started)},
		{"Collected", utc(run.Collected)},
		{"Tenants", fmt.Sprint(len(run.Tenants))},
		{"Sections", strings.Join(titles, ", ")},
		{"Highlighted", fmt.Sprintf("MFA coverage below %.0f%%, secure score below %.0f%%, admins without MFA, expired credentials, rows not fully read",
			run.Thresholds.MFACoverage*100, run.Thresholds.SecureScore*100)},
		{"Licence names", "Microsoft's product names and service plan identifiers for licensing, " + directory.SKUTableDate()},
		{"Privileged roles", "Microsoft Entra built-in roles reference, " + directory.RolesTableDate()},
		{"Made by", strings.TrimSpace("tenantreport " + run.Version)},
	}
	return func(yield func([]any, error) bool) {
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}
