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
