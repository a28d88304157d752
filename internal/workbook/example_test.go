package workbook_test

import (
	"bytes"
	"fmt"
	"log"
	"time"

	"github.com/tenantreport/tenantreport/internal/workbook"
)

func ExampleWrite() {
	type user struct {
		name    string
		signIns int
		last    time.Time
		admin   bool
	}
	users := []user{
		{"Adele Vance", 42, time.Date(2024, 3, 5, 14, 30, 0, 0, time.UTC), false},
		{"=cmd|' /C calc'!A0", 0, time.Time{}, true}, // stays text
	}
	rows := func(yield func([]any, error) bool) {
		for _, u := range users {
			if !yield([]any{u.name, u.signIns, u.last, u.admin}, nil) {
				return
			}
		}
	}
	var buf bytes.Buffer
	err := workbook.Write(&buf, workbook.Sheet{
		Name: "Users",
		Columns: []workbook.Column{
			{Header: "Name"},
			{Header: "Sign-ins", Kind: workbook.Int},
			{Header: "Last sign-in", Kind: workbook.Time},
			{Header: "Admin", Kind: workbook.Bool},
		},
		Rows: rows,
	})
	if err != nil {
		log.Fatal(err)
	}
	dump, err := workbook.Dump(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(dump)
	// Output:
	// == Users
	// Name	Sign-ins	Last sign-in	Admin
	// Adele Vance	42	2024-03-05T14:30:00Z	false
	// =cmd|' /C calc'!A0	0		true
}

// A summary with one row per tenant, a chart of its MFA coverage, and the
// failed tenants highlighted.
func ExampleChart() {
	type tenant struct {
		name   string
		users  int
		mfa    float64
		failed bool
	}
	tenants := []tenant{{"Contoso", 120, 0.8, false}, {"Fabrikam", 40, 0.35, true}}
	rows := func(yield func([]any, error) bool) {
		for _, t := range tenants {
			if !yield([]any{t.name, t.users, t.mfa, t.failed}, nil) {
				return
			}
		}
	}
	var buf bytes.Buffer
	err := workbook.Write(&buf, workbook.Sheet{
		Name: "Summary",
		Columns: []workbook.Column{
			{Header: "Tenant"},
			{Header: "Users", Kind: workbook.Int},
			{Header: "MFA coverage", Kind: workbook.Percent},
			{Header: "Failed", Kind: workbook.Bool, Flag: true}, // TRUE rows get a light-red fill
		},
		Rows:  rows,
		Chart: &workbook.Chart{Title: "MFA coverage", Category: "Tenant", Series: []string{"MFA coverage"}, Percent: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	dump, err := workbook.Dump(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(dump)
	// Output:
	// == Summary
	// Tenant	Users	MFA coverage	Failed
	// Contoso	120	0.8	false
	// Fabrikam	40	0.35	true
}

// A summary that links each tenant to its row on another sheet, highlights
// the tenants whose status is not "ok" and the low MFA coverage, wraps long
// reasons, and counts the dates Excel cannot show.
func ExampleWriteWith() {
	type tenant struct {
		name, status, reason string
		mfa                  float64
		lastSync             time.Time
	}
	tenants := []tenant{
		{"Contoso", "ok", "", 0.92, time.Date(2024, 3, 5, 6, 0, 0, 0, time.UTC)},
		{"Fabrikam", "failed", "AADSTS7000215: Invalid client secret provided.", 0.35, time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	rows := func(yield func([]any, error) bool) {
		for i, t := range tenants {
			link := workbook.Link{Text: t.name, Sheet: "Run status", Cell: fmt.Sprintf("A%d", i+2)}
			if !yield([]any{link, t.status, t.reason, t.lastSync, t.mfa}, nil) {
				return
			}
		}
	}
	blanked := 0
	opts := workbook.Options{
		Title:   "Tenant report",
		Creator: "tenantreport",
		Created: time.Date(2024, 3, 5, 7, 0, 0, 0, time.UTC),
		OnBadValue: func(sheet, column string, row int, v any) {
			blanked++
			fmt.Printf("%s!%s row %d: %v is not an Excel date\n", sheet, column, row, v)
		},
	}
	var buf bytes.Buffer
	err := workbook.WriteWith(&buf, opts, workbook.Sheet{
		Name: "Summary",
		Columns: []workbook.Column{
			{Header: "Tenant"},
			{Header: "Status", FlagUnless: "ok"}, // the row is highlighted unless "ok"
			{Header: "Reason", Wrap: true},       // long errors wrap
			{Header: "Last sync", Kind: workbook.Time},
			{Header: "MFA coverage", Kind: workbook.Percent, HighlightBelow: new(0.5)}, // below 50% is highlighted
		},
		Rows: rows,
	})
	if err != nil {
		log.Fatal(err)
	}
	dump, err := workbook.Dump(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(dump)
	fmt.Println("blanked:", blanked)
	// Output:
	// Summary!Last sync row 3: 1601-01-01 00:00:00 +0000 UTC is not an Excel date
	// == Summary
	// Tenant	Status	Reason	Last sync	MFA coverage
	// Contoso <#'Run status'!A2>	ok		2024-03-05T06:00:00Z	0.92
	// Fabrikam <#'Run status'!A3>	failed	AADSTS7000215: Invalid client secret provided.		0.35
	// blanked: 1
}
