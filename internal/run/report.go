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

// writeWorkbook writes the report of results, reading users from the spools.
func writeWorkbook(w io.Writer, results []tenantRun) error {
	return workbook.Write(w,
		workbook.Sheet{Name: "Summary", Columns: summaryColumns, Rows: summaryRows(results)},
		workbook.Sheet{Name: "Users", Columns: userColumns, Rows: userRows(results)},
	)
}

func summaryRows(results []tenantRun) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, t := range results {
			row := []any{t.DisplayName, t.TenantID, string(t.Status), t.Users, t.EnabledUsers, t.Guests,
				t.Requests, t.Throttled, t.Duration.Seconds(), t.Error}
			if t.Status != StatusOK {
				// Counts of a failed tenant are unknown, not zero.
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
			if t.usersSpool == "" {
				continue
			}
			for u, err := range readSpool[graphdata.User](t.usersSpool) {
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
