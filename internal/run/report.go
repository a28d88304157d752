package run

import (
	"io"
	"iter"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/workbook"
)

var summaryColumns = []workbook.Column{
	{Header: "Tenant", Kind: workbook.Text, Width: 28},
	{Header: "Tenant ID", Kind: workbook.Text, Width: 38},
	{Header: "Status", Kind: workbook.Text, Width: 10},
	{Header: "Users", Kind: workbook.Int},
	{Header: "Enabled users", Kind: workbook.Int},
	{Header: "Guests", Kind: workbook.Int},
	{Header: "Graph requests", Kind: workbook.Int},
	{Header: "Throttled", Kind: workbook.Int},
	{Header: "Duration (s)", Kind: workbook.Float},
	{Header: "Error", Kind: workbook.Text, Width: 100},
}

var userColumns = []workbook.Column{
	{Header: "Tenant", Kind: workbook.Text, Width: 28},
	{Header: "Display name", Kind: workbook.Text, Width: 28},
	{Header: "User principal name", Kind: workbook.Text, Width: 40},
	{Header: "Mail", Kind: workbook.Text, Width: 36},
	{Header: "User type", Kind: workbook.Text, Width: 10},
	{Header: "Account enabled", Kind: workbook.Bool},
	{Header: "Created", Kind: workbook.Time},
	{Header: "External user state", Kind: workbook.Text, Width: 18},
	{Header: "Job title", Kind: workbook.Text, Width: 24},
	{Header: "Department", Kind: workbook.Text, Width: 20},
	{Header: "User ID", Kind: workbook.Text, Width: 38},
}

var runStatusColumns = []workbook.Column{
	{Header: "Tenant", Kind: workbook.Text, Width: 28},
	{Header: "Tenant ID", Kind: workbook.Text, Width: 38},
	{Header: "Section", Kind: workbook.Text, Width: 18},
	{Header: "Status", Kind: workbook.Text, Width: 14},
	{Header: "Rows", Kind: workbook.Int},
	{Header: "Graph requests", Kind: workbook.Int},
	{Header: "Throttled", Kind: workbook.Int},
	{Header: "Duration (s)", Kind: workbook.Float},
	{Header: "Reason", Kind: workbook.Text, Width: 100},
}

// writeWorkbook writes the report of results, reading rows from the spools.
func writeWorkbook(w io.Writer, results []tenantRun) error {
	return workbook.Write(w,
		workbook.Sheet{Name: "Summary", Columns: summaryColumns, Rows: summaryRows(results)},
		workbook.Sheet{Name: "Users", Columns: userColumns, Rows: userRows(results)},
		workbook.Sheet{Name: "Run status", Columns: runStatusColumns, Rows: runStatusRows(results)},
	)
}

// runStatusRows has a row per tenant and section, or one row for a tenant
// that could not be reached at all, so no gap goes unexplained.
func runStatusRows(results []tenantRun) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, t := range results {
			if len(t.Sections) == 0 {
				if !yield([]any{t.DisplayName, t.TenantID, "(all)", string(t.Status), nil, t.Requests, t.Throttled, t.Duration.Seconds(), t.Error}, nil) {
					return
				}
				continue
			}
			for _, s := range t.Sections {
				if !yield([]any{t.DisplayName, t.TenantID, s.Section, string(s.Status), s.Rows, s.Requests, s.Throttled, s.Duration.Seconds(), s.Reason}, nil) {
					return
				}
			}
		}
	}
}

func summaryRows(results []tenantRun) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, t := range results {
			row := []any{t.DisplayName, t.TenantID, string(t.Status), t.Users, t.EnabledUsers, t.Guests,
				t.Requests, t.Throttled, t.Duration.Seconds(), t.Error}
			if s, _ := t.Section("users"); s.Status != graphdata.SectionOK {
				// Counts that were not read are unknown, not zero.
				row[3], row[4], row[5] = nil, nil, nil
			}
			if !yield(row, nil) {
				return
			}
		}
	}
}

func userRows(results []tenantRun) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, t := range results {
			path := t.spools["users"]
			if path == "" {
				continue
			}
			for u, err := range readSpool[graphdata.User](path) {
				if err != nil {
					yield(nil, err)
					return
				}
				row := []any{t.DisplayName, u.DisplayName, u.UserPrincipalName, u.Mail, u.UserType, u.AccountEnabled,
					u.CreatedDateTime, u.ExternalUserState, u.JobTitle, u.Department, u.ID}
				if !yield(row, nil) {
					return
				}
			}
		}
	}
}
