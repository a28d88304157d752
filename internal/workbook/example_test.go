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
