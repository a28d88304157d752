package workbook

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"
)

// writeWith runs write within lim with opts and returns the workbook.
func writeWith(t testing.TB, lim limits, opts Options, sheets ...Sheet) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf, lim, opts, sheets); err != nil {
		t.Fatalf("write: %v", err)
	}
	return buf.Bytes()
}

// styleOf returns the style of a cell.
func styleOf(t testing.TB, f *excelize.File, sheet, cell string) *excelize.Style {
	t.Helper()
	id, err := f.GetCellStyle(sheet, cell)
	if err != nil {
		t.Fatalf("GetCellStyle(%q, %q): %v", sheet, cell, err)
	}
	st, err := f.GetStyle(id)
	if err != nil {
		t.Fatalf("GetStyle(%d): %v", id, err)
	}
	return st
}

func isCalibri11(f *excelize.Font) bool { return f != nil && f.Family == "Calibri" && f.Size == 11 }

func TestWriteHeaderStyle(t *testing.T) {
	cols := []Column{
		{Header: "Tenant"}, {Header: "Users", Kind: Int}, {Header: "Score", Kind: Float},
		{Header: "MFA", Kind: Percent}, {Header: "Last sign-in", Kind: Time}, {Header: "OK", Kind: Bool},
	}
	when := time.Date(2024, 3, 5, 14, 30, 0, 0, time.UTC)
	data := writeBytes(t, excelize.TotalRows, Sheet{Name: "S", Columns: cols, Rows: rowsOf([]any{"Contoso", 1, 1.5, 0.5, when, true})})
	f := open(t, data)
	for i, align := range []string{"left", "right", "right", "right", "right", "center"} {
		cell, _ := excelize.CoordinatesToCellName(i+1, 1)
		st := styleOf(t, f, "S", cell)
		if !isCalibri11(st.Font) || !st.Font.Bold {
			t.Errorf("header %s font = %+v, want Calibri 11 bold", cell, st.Font)
		}
		if st.Fill.Type != "pattern" || st.Fill.Pattern != 1 || !slices.Equal(st.Fill.Color, []string{HeaderFill}) {
			t.Errorf("header %s fill = %+v, want solid %s", cell, st.Fill, HeaderFill)
		}
		if len(st.Border) != 1 || st.Border[0].Type != "bottom" || st.Border[0].Style != 1 {
			t.Errorf("header %s border = %+v, want a thin bottom line", cell, st.Border)
		}
		if a := st.Alignment; a == nil || !a.WrapText || a.Horizontal != align {
			t.Errorf("header %s alignment = %+v, want wrapped, %s", cell, a, align)
		}
	}
	for i := range cols {
		cell, _ := excelize.CoordinatesToCellName(i+1, 2)
		st := styleOf(t, f, "S", cell)
		if !isCalibri11(st.Font) || st.Font.Bold || st.Font.Underline != "" {
			t.Errorf("body %s font = %+v, want Calibri 11", cell, st.Font)
		}
		if a := st.Alignment; a == nil || a.Vertical != "top" || a.WrapText {
			t.Errorf("body %s alignment = %+v, want top, not wrapped", cell, a)
		}
		if st.Fill.Pattern != 0 || len(st.Border) != 0 {
			t.Errorf("body %s fill %+v, border %+v; want none", cell, st.Fill, st.Border)
		}
	}
}

func TestWriteWrap(t *testing.T) {
	long := strings.Repeat("Authentication_RequestFromNonPremiumTenantOrB2CTenant ", 5)
	cols := []Column{{Header: "Tenant"}, {Header: "Reason", Wrap: true}, {Header: "Error", Wrap: true, Width: 30}}
	data := writeBytes(t, excelize.TotalRows, Sheet{Name: "S", Columns: cols, Rows: rowsOf(
		[]any{"Contoso", long, Link{Text: "docs", URL: "https://learn.microsoft.com/"}},
	)})
	f := open(t, data)
	for col, want := range map[string]float64{"A": 24, "B": wrapWidth, "C": 30} {
		if got, err := f.GetColWidth("S", col); err != nil || got != want {
			t.Errorf("GetColWidth(S, %s) = %v, %v; want %v", col, got, err, want)
		}
	}
	if v, _ := f.GetCellValue("S", "B2"); v != long {
		t.Errorf("B2 = %q, want %q", v, long)
	}
	for _, cell := range []string{"B2", "C2"} {
		st := styleOf(t, f, "S", cell)
		if a := st.Alignment; a == nil || !a.WrapText || a.Vertical != "top" {
			t.Errorf("%s alignment = %+v, want wrapped, top", cell, a)
		}
		if st.NumFmt != 49 {
			t.Errorf("%s number format = %d, want 49 (@)", cell, st.NumFmt)
		}
	}
	if st := styleOf(t, f, "S", "C2"); st.Font == nil || st.Font.Underline != "single" || st.Font.Color != LinkColor {
		t.Errorf("C2 (a link) font = %+v, want underlined %s", st.Font, LinkColor)
	}
	// Cells typed into the column later wrap too.
	id, err := f.GetColStyle("S", "B")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.GetStyle(id); st == nil || st.Alignment == nil || !st.Alignment.WrapText {
		t.Errorf("column B style = %+v, want wrapped", st)
	}
}

func TestWritePrint(t *testing.T) {
	data := writeBytes(t, 3,
		Sheet{Name: "Users", Columns: twoCols, Rows: numbered(3)},
		Sheet{Name: "O'Brien", Columns: twoCols},
	)
	f := open(t, data)
	want := map[string]string{"Users": "'Users'!$1:$1", "Users (2)": "'Users (2)'!$1:$1", "O'Brien": "'O''Brien'!$1:$1"}
	if got := f.GetSheetList(); !slices.Equal(got, []string{"Users", "Users (2)", "O'Brien"}) {
		t.Fatalf("sheets = %q", got)
	}
	titles := map[string]string{}
	for _, dn := range f.GetDefinedName() {
		if dn.Name == "_xlnm.Print_Titles" {
			titles[dn.Scope] = dn.RefersTo
		}
	}
	for sheet, ref := range want {
		if titles[sheet] != ref {
			t.Errorf("print titles of %q = %q, want %q", sheet, titles[sheet], ref)
		}
		p, err := f.GetPageLayout(sheet)
		if err != nil {
			t.Fatal(err)
		}
		if *p.Orientation != "landscape" || p.FitToWidth == nil || *p.FitToWidth != 1 || p.FitToHeight == nil || *p.FitToHeight != 0 {
			t.Errorf("GetPageLayout(%q) = orientation %s, fit to width %v, height %v; want landscape, 1, 0",
				sheet, *p.Orientation, deref(p.FitToWidth), deref(p.FitToHeight))
		}
		props, err := f.GetSheetProps(sheet)
		if err != nil || props.FitToPage == nil || !*props.FitToPage {
			t.Errorf("GetSheetProps(%q).FitToPage = %v, %v; want true", sheet, deref(props.FitToPage), err)
		}
		hf, err := f.GetHeaderFooter(sheet)
		if err != nil || hf.OddFooter != "&C&A - page &P of &N" {
			t.Errorf("GetHeaderFooter(%q) = %+v, %v; want the sheet name and page number", sheet, hf, err)
		}
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestWriteDimension(t *testing.T) {
	tests := []struct {
		name    string
		cols    []Column
		rows    int
		maxRows int
		want    []string // dimension of each worksheet
	}{
		{"one cell", []Column{{Header: "Name"}}, 0, 10, []string{"A1"}},
		{"header only", twoCols, 0, 10, []string{"A1:B1"}},
		{"rows", twoCols, 3, 10, []string{"A1:B4"}},
		{"continued", twoCols, 5, 3, []string{"A1:B3", "A1:B3", "A1:B2"}},
		{"wide", []Column{{Header: "A"}, {Header: "B"}, {Header: "C"}, {Header: "D"}, {Header: "E"}, {Header: "F"},
			{Header: "G"}, {Header: "H"}, {Header: "I"}, {Header: "J"}, {Header: "K"}, {Header: "L"}, {Header: "M"},
			{Header: "N"}, {Header: "O"}, {Header: "P"}, {Header: "Q"}, {Header: "R"}, {Header: "S"}, {Header: "T"},
			{Header: "U"}, {Header: "V"}, {Header: "W"}, {Header: "X"}, {Header: "Y"}, {Header: "Z"}, {Header: "AA"}}, 0, 10, []string{"A1:AA1"}},
	}
	for _, memory := range []int{spillMemory, 16} { // in memory, and through a temporary file
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/memory %d", tt.name, memory), func(t *testing.T) {
				var rows [][]any
				for i := range tt.rows {
					row := make([]any, len(tt.cols))
					row[0] = fmt.Sprintf("row %d", i+1)
					if len(row) > 1 {
						row[1] = i + 1
					}
					rows = append(rows, row)
				}
				data := writeWith(t, limits{rows: tt.maxRows, memory: memory}, Options{TempDir: t.TempDir()},
					Sheet{Name: "S", Columns: tt.cols, Rows: rowsOf(rows...)})
				for i, want := range tt.want {
					x := sheetXML(t, data, i+1)
					elem := `<dimension ref="` + want + `"/>`
					if !strings.Contains(x, elem) {
						t.Errorf("sheet%d.xml lacks %s:\n%.600s", i+1, elem, x)
					}
					// Schema order: sheetPr, dimension, sheetViews.
					if p, d, v := strings.Index(x, "<sheetPr>"), strings.Index(x, "<dimension "), strings.Index(x, "<sheetViews>"); !(0 < p && p < d && d < v) {
						t.Errorf("sheet%d.xml: sheetPr at %d, dimension at %d, sheetViews at %d", i+1, p, d, v)
					}
				}
				// The rows read back whole.
				f := open(t, data)
				n := 0
				for _, sheet := range f.GetSheetList() {
					got, err := f.GetRows(sheet)
					if err != nil {
						t.Fatal(err)
					}
					n += len(got) - 1
				}
				if n != tt.rows {
					t.Errorf("read %d rows, want %d", n, tt.rows)
				}
			})
		}
	}
}

// TestWriteTempFile checks that a large worksheet's compressed rows go to
// a temporary file in Options.TempDir, and that Write removes it.
func TestWriteTempFile(t *testing.T) {
	dir := t.TempDir()
	sawFile := false
	rows := func(yield func([]any, error) bool) {
		for i := range 5000 {
			if i == 4000 {
				entries, err := os.ReadDir(dir)
				sawFile = err == nil && len(entries) > 0
			}
			if !yield([]any{fmt.Sprintf("row %d %x", i, i*7919), i}, nil) {
				return
			}
		}
	}
	var buf bytes.Buffer
	if err := write(&buf, limits{rows: excelize.TotalRows, memory: 4 << 10}, Options{TempDir: dir}, []Sheet{{Name: "S", Columns: twoCols, Rows: rows}}); err != nil {
		t.Fatal(err)
	}
	if !sawFile {
		t.Errorf("no temporary file in TempDir while writing")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("TempDir holds %d entries after Write, want none", len(entries))
	}
	f := open(t, buf.Bytes())
	if v, _ := f.GetCellValue("S", "A5001"); v != fmt.Sprintf("row 4999 %x", 4999*7919) {
		t.Errorf("A5001 = %q", v)
	}
}

// TestWriteWideHead checks a worksheet whose head (its column list) is
// longer than one stored deflate block.
func TestWriteWideHead(t *testing.T) {
	cols := make([]Column, 3000)
	row := make([]any, len(cols))
	for i := range cols {
		cols[i] = Column{Header: "Column " + strconv.Itoa(i+1), Kind: Int}
		row[i] = i
	}
	data := writeBytes(t, excelize.TotalRows, Sheet{Name: "S", Columns: cols, Rows: rowsOf(row)})
	x := sheetXML(t, data, 1)
	if i := strings.Index(x, "<sheetData>"); i < 2*maxStored {
		t.Fatalf("head is %d bytes, want more than %d", i, 2*maxStored)
	}
	if !strings.Contains(x, `<dimension ref="A1:DKJ2"/>`) {
		t.Errorf("sheet1.xml lacks dimension A1:DKJ2")
	}
	f := open(t, data)
	if v, _ := f.GetCellValue("S", "DKJ2"); v != "2,999" {
		t.Errorf("DKJ2 = %q, want 2,999", v)
	}
}

func TestWriteDocProps(t *testing.T) {
	created := time.Date(2024, 3, 5, 14, 30, 15, 500, time.FixedZone("CET", 3600))
	opts := Options{
		Title: "Tenant report", Subject: "Entra tenants", Description: "Weekly <report> & \x07 more",
		Creator: "tenantreport", Created: created,
	}
	data := writeWith(t, limits{rows: excelize.TotalRows, memory: spillMemory}, opts, Sheet{Name: "S", Columns: twoCols})
	p, err := open(t, data).GetDocProps()
	if err != nil {
		t.Fatal(err)
	}
	want := excelize.DocProperties{
		Title: "Tenant report", Subject: "Entra tenants", Description: "Weekly <report> & \uFFFD more",
		Creator: "tenantreport", Created: "2024-03-05T13:30:15Z", Modified: "2024-03-05T13:30:15Z",
	}
	if *p != want {
		t.Errorf("GetDocProps() = %+v, want %+v", *p, want)
	}

	// Without options: no properties at all, not excelize's defaults.
	p, err = open(t, writeBytes(t, excelize.TotalRows, Sheet{Name: "S", Columns: twoCols})).GetDocProps()
	if err != nil {
		t.Fatal(err)
	}
	if *p != (excelize.DocProperties{}) {
		t.Errorf("GetDocProps() without options = %+v, want none", *p)
	}

	err = WriteWith(io.Discard, Options{Created: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, Sheet{Name: "S", Columns: twoCols})
	if err == nil || !strings.HasPrefix(err.Error(), "workbook: created time") {
		t.Errorf("WriteWith(created in year 10000) = %v, want a created time error", err)
	}
}

func TestWriteLinks(t *testing.T) {
	portal := "https://portal.azure.com/#view/Microsoft_AAD_IAM/TenantOverview.ReactView?a=1&b=\"2\""
	cols := []Column{{Header: "Tenant"}, {Header: "Portal"}, {Header: "N", Kind: Int}}
	data := writeBytes(t, 4, Sheet{Name: "Summary", Columns: cols, Rows: rowsOf(
		[]any{Link{Text: "Contoso", Sheet: "Run status", Cell: "a12"}, Link{Text: "Open", URL: portal}, 1},
		[]any{Link{Sheet: "O'Brien"}, Link{URL: "http://example.com/x"}, 2},
		[]any{"plain", Link{Text: "script", URL: "javascript:alert(1)"}, 3},
		[]any{Link{Text: "ftp", URL: "ftp://example.com/"}, Link{Text: "relative", URL: "/relative"}, 4},
		[]any{Link{Text: "space", URL: "https://example.com/a b"}, Link{Text: "long", URL: "https://example.com/" + strings.Repeat("a", 2100)}, 5},
		[]any{Link{Text: "nothing"}, Link{Text: "control", URL: "https://example.com/\x07"}, 6},
		[]any{Link{Text: "next sheet", URL: "https://example.com/2"}, nil, 7},
	)})
	f := open(t, data)
	if got := f.GetSheetList(); !slices.Equal(got, []string{"Summary", "Summary (2)", "Summary (3)"}) {
		t.Fatalf("sheets = %q", got)
	}
	tests := []struct {
		sheet, cell, value, target string // target "" for no hyperlink
	}{
		{"Summary", "A2", "Contoso", "'Run status'!A12"},
		{"Summary", "B2", "Open", portal},
		{"Summary", "A3", "O'Brien", "'O''Brien'!A1"},
		{"Summary", "B3", "http://example.com/x", "http://example.com/x"},
		{"Summary", "A4", "plain", ""},
		{"Summary", "B4", "script", ""},
		{"Summary (2)", "A2", "ftp", ""},
		{"Summary (2)", "B2", "relative", ""},
		{"Summary (2)", "A3", "space", ""},
		{"Summary (2)", "B3", "long", ""},
		{"Summary (2)", "A4", "nothing", ""},
		{"Summary (2)", "B4", "control", ""},
		{"Summary (3)", "A2", "next sheet", "https://example.com/2"},
	}
	for _, tt := range tests {
		if v, err := f.GetCellValue(tt.sheet, tt.cell); err != nil || v != tt.value {
			t.Errorf("GetCellValue(%q, %s) = %q, %v; want %q", tt.sheet, tt.cell, v, err, tt.value)
		}
		ok, target, err := f.GetCellHyperLink(tt.sheet, tt.cell)
		if err != nil || ok != (tt.target != "") || target != tt.target {
			t.Errorf("GetCellHyperLink(%q, %s) = %v, %q, %v; want %q", tt.sheet, tt.cell, ok, target, err, tt.target)
		}
		st := styleOf(t, f, tt.sheet, tt.cell)
		if underlined := st.Font != nil && st.Font.Underline == "single" && st.Font.Color == LinkColor; underlined != (tt.target != "") {
			t.Errorf("%s!%s font = %+v; want link style %v", tt.sheet, tt.cell, st.Font, tt.target != "")
		}
	}
	// Each worksheet has its own relationships, numbered from rId2.
	rels := zipPart(t, data, "xl/worksheets/_rels/sheet1.xml.rels")
	for _, want := range []string{
		`<Relationship Id="rId2" Type="` + relTypeHyperlink + `" Target="https://portal.azure.com/#view/Microsoft_AAD_IAM/TenantOverview.ReactView?a=1&amp;b=&quot;2&quot;" TargetMode="External"/>`,
		`<Relationship Id="rId3" Type="` + relTypeHyperlink + `" Target="http://example.com/x" TargetMode="External"/>`,
	} {
		if !strings.Contains(rels, want) {
			t.Errorf("sheet1.xml.rels = %s\nlacks %s", rels, want)
		}
	}
	if hasPart(t, data, "xl/worksheets/_rels/sheet2.xml.rels") {
		t.Errorf("Summary (2), without hyperlinks, has relationships")
	}
	if rels := zipPart(t, data, "xl/worksheets/_rels/sheet3.xml.rels"); !strings.Contains(rels, `Id="rId2"`) {
		t.Errorf("sheet3.xml.rels = %s, want rId2", rels)
	}
	// The hyperlinks come in schema order: after the conditional formats, before the page setup.
	x := sheetXML(t, data, 1)
	if c, h, p := strings.Index(x, "</sheetData>"), strings.Index(x, "<hyperlinks>"), strings.Index(x, "<pageMargins"); !(c < h && h < p) {
		t.Errorf("sheet1.xml: sheetData ends at %d, hyperlinks at %d, pageMargins at %d", c, h, p)
	}

	dump, err := Dump(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Contoso <#'Run status'!A12>\tOpen <" + portal + ">\t1\n",
		"O'Brien <#'O''Brien'!A1>\thttp://example.com/x <http://example.com/x>\t2\n",
		"plain\tscript\t3\n",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("Dump() =\n%s\nlacks %q", dump, want)
		}
	}
}

// TestWriteLinksAndChart checks a worksheet with both a chart and hyperlinks.
func TestWriteLinksAndChart(t *testing.T) {
	cols := []Column{{Header: "Tenant"}, {Header: "Users", Kind: Int}}
	data := writeBytes(t, excelize.TotalRows, Sheet{
		Name: "Summary", Columns: cols,
		Rows: rowsOf(
			[]any{Link{Text: "Contoso", URL: "https://contoso.example/"}, 10},
			[]any{Link{Text: "Fabrikam", Sheet: "Users", Cell: "A2"}, 20},
		),
		Chart: &Chart{Category: "Tenant", Series: []string{"Users"}},
	}, Sheet{Name: "Users", Columns: twoCols})
	rels := zipPart(t, data, "xl/worksheets/_rels/sheet1.xml.rels")
	for _, want := range []string{`Id="rId1" Type="` + relTypeDrawing + `" Target="../drawings/drawing1.xml"`, `Id="rId2" Type="` + relTypeHyperlink + `" Target="https://contoso.example/"`} {
		if !strings.Contains(rels, want) {
			t.Errorf("sheet1.xml.rels = %s\nlacks %s", rels, want)
		}
	}
	f := open(t, data)
	if ok, target, _ := f.GetCellHyperLink("Summary", "A2"); !ok || target != "https://contoso.example/" {
		t.Errorf("GetCellHyperLink(Summary, A2) = %v, %q", ok, target)
	}
	if ok, target, _ := f.GetCellHyperLink("Summary", "A3"); !ok || target != "'Users'!A2" {
		t.Errorf("GetCellHyperLink(Summary, A3) = %v, %q", ok, target)
	}
}

// TestWriteLinkLimit checks that a worksheet stops at Excel's 65,530
// hyperlinks, the rest being plain text.
func TestWriteLinkLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 65,531 hyperlinks")
	}
	const n = maxLinks + 1
	rows := func(yield func([]any, error) bool) {
		for i := range n {
			if !yield([]any{Link{Text: "row " + strconv.Itoa(i), URL: "https://example.com/" + strconv.Itoa(i)}, i}, nil) {
				return
			}
		}
	}
	data := writeWith(t, limits{rows: excelize.TotalRows, memory: 64 << 10}, Options{TempDir: t.TempDir()},
		Sheet{Name: "S", Columns: twoCols, Rows: rows})
	x := sheetXML(t, data, 1)
	if got := strings.Count(x, "<hyperlink "); got != maxLinks {
		t.Errorf("sheet1.xml has %d hyperlinks, want %d", got, maxLinks)
	}
	last := fmt.Sprintf(`<hyperlink ref="A%d" r:id="rId%d"/>`, maxLinks+1, maxLinks+1)
	if !strings.Contains(x, last) {
		t.Errorf("sheet1.xml lacks %s", last)
	}
	rels := zipPart(t, data, "xl/worksheets/_rels/sheet1.xml.rels")
	if got := strings.Count(rels, "<Relationship "); got != maxLinks {
		t.Errorf("sheet1.xml.rels has %d relationships, want %d", got, maxLinks)
	}
	ref := fmt.Sprintf("A%d", n+1)
	if strings.Contains(x, `<hyperlink ref="`+ref+`"`) || !strings.Contains(x, `<c r="`+ref+`" s="`+strconv.Itoa(kindStyle(t, Text))+`" t="inlineStr"><is><t>row 65530</t>`) {
		t.Errorf("%s is not plain text", ref)
	}
}

// kindStyle returns the style ID Write gives the cells of kind k.
func kindStyle(t testing.TB, k Kind) int {
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		t.Fatal(err)
	}
	return st.kind[k]
}

func TestWriteBadTimes(t *testing.T) {
	var got []string
	opts := Options{OnBadValue: func(sheet, column string, row int, v any) {
		got = append(got, fmt.Sprintf("%s|%s|%d|%v", sheet, column, row, v))
	}}
	utc := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}
	cols := []Column{{Header: "Name"}, {Header: "When", Kind: Time}}
	data := writeWith(t, limits{rows: 4, memory: spillMemory}, opts, Sheet{Name: "S", Columns: cols, Rows: rowsOf(
		[]any{"ok", utc(1900, 1, 1, 0, 0, 0)},
		[]any{"zero", time.Time{}},
		[]any{"1899", utc(1899, 12, 31, 23, 59, 59)},
		[]any{"cet", time.Date(1900, 1, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600))},
		[]any{"10000", utc(10000, 1, 1, 0, 0, 0)},
		[]any{"max", utc(9999, 12, 31, 23, 59, 59)},
	)})
	want := []string{
		"S|When|4|1899-12-31 23:59:59 +0000 UTC",
		"S (2)|When|2|1900-01-01 00:30:00 +0100 CET",
		"S (2)|When|3|10000-01-01 00:00:00 +0000 UTC",
	}
	if !slices.Equal(got, want) {
		t.Errorf("OnBadValue calls =\n%q\nwant\n%q", got, want)
	}
	// The first and last of Excel's dates are dates (serial numbers); the
	// others are blank.
	f := open(t, data)
	for _, c := range []struct{ sheet, cell, want string }{
		{"S", "B2", "1"}, {"S", "B3", ""}, {"S", "B4", ""},
		{"S (2)", "B2", ""}, {"S (2)", "B3", ""}, {"S (2)", "B4", "2958465.999988426"},
	} {
		if v, err := f.GetCellValue(c.sheet, c.cell, excelize.Options{RawCellValue: true}); err != nil || v != c.want {
			t.Errorf("GetCellValue(%q, %s) = %q, %v; want %q", c.sheet, c.cell, v, err, c.want)
		}
	}
	// Without OnBadValue the values are blank all the same.
	f = open(t, writeBytes(t, 4, Sheet{Name: "S", Columns: cols, Rows: rowsOf([]any{"1899", utc(1899, 1, 1, 0, 0, 0)})}))
	if v, err := f.GetCellValue("S", "B2"); err != nil || v != "" {
		t.Errorf("GetCellValue(S, B2) = %q, %v; want blank", v, err)
	}
}

func TestWriteHostileText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"bell\x07", "bell\uFFFD"},
		{"a\x00b", "a\uFFFDb"},
		{"esc\x1b[31m", "esc\uFFFD[31m"},
		{"del\x7f", "del\uFFFD"},
		{"next line\u0085", "next line\uFFFD"},
		{"c1\u009f", "c1\uFFFD"},
		{"tab\tnewline\ncr\r", "tab\tnewline\ncr\r"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // a UTF-16 surrogate in UTF-8: three invalid bytes
		{"\uFFFE\uFFFF", "\uFFFD\uFFFD"},
		{"\u00a0nbsp and é", "\u00a0nbsp and é"},
		{strings.Repeat("é", maxCellChars), strings.Repeat("é", maxCellChars)},
		{strings.Repeat("a", 40_000), strings.Repeat("a", 32_743) + "…[truncated 7257 chars]"},
		{strings.Repeat("é", maxCellChars+1), strings.Repeat("é", 32_743) + "…[truncated 25 chars]"},
		{strings.Repeat("😀", 20_000), strings.Repeat("😀", 16_371) + "…[truncated 3629 chars]"},
		{strings.Repeat("\xff", 40_000), strings.Repeat("\uFFFD", 32_743) + "…[truncated 7257 chars]"},
		{strings.Repeat("\x01", 40_000), strings.Repeat("\uFFFD", 32_743) + "…[truncated 7257 chars]"},
	}
	values := make([]any, len(tests))
	for i, tt := range tests {
		values[i] = tt.in
	}
	got := viaWrite(t, Text, values)
	for i, tt := range tests {
		if got[i].raw != tt.want {
			t.Errorf("%.40q reads back as %s, want %.60q (%d chars)", tt.in, got[i], tt.want, len(utf16.Encode([]rune(tt.want))))
		}
		if n := utf16Len(got[i].raw); n > maxCellChars {
			t.Errorf("%.40q reads back as %d UTF-16 units, more than %d", tt.in, n, maxCellChars)
		}
	}
	// Headers and link text get the same treatment.
	data := writeBytes(t, excelize.TotalRows, Sheet{Name: "S", Columns: []Column{{Header: "bad\x07header"}}, Rows: rowsOf(
		[]any{Link{Text: "link\x00", URL: "https://example.com/"}},
	)})
	f := open(t, data)
	for cell, want := range map[string]string{"A1": "bad\uFFFDheader", "A2": "link\uFFFD"} {
		if v, err := f.GetCellValue("S", cell); err != nil || v != want {
			t.Errorf("GetCellValue(S, %s) = %q, %v; want %q", cell, v, err, want)
		}
	}
}

func TestWriteHighlights(t *testing.T) {
	cols := []Column{
		{Header: "Tenant"},
		{Header: "Status", FlagUnless: "ok"},
		{Header: "MFA", Kind: Percent, HighlightBelow: new(0.5)},
		{Header: "Failed", Kind: Bool, Flag: true},
		{Header: "Throttled", Kind: Int, HighlightBelow: new(-1.0), HighlightAbove: new(100.0)},
		{Header: "Quote", FlagUnless: `say "hi"`},
	}
	rows := [][]any{
		{"Contoso", "ok", 0.8, false, 5, `say "hi"`},
		{"Fabrikam", "failed", 0.2, false, 500, `say "hi"`},
		{"Northwind", nil, nil, true, -5, `SAY "HI"`},
		{"Tailspin", "OK", 0.5, false, nil, `say "hi"`},
	}
	data := writeBytes(t, excelize.TotalRows, Sheet{Name: "S", Columns: cols, Rows: rowsOf(rows...)})
	f := open(t, data)
	got, err := f.GetConditionalFormats("S")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]excelize.ConditionalFormatOptions{
		"A2:F5": {
			{Type: "formula", Criteria: "$D2=TRUE", Format: intPtr(0)},
			{Type: "formula", Criteria: `NOT(EXACT($B2,"ok"))`, Format: intPtr(0)},
			{Type: "formula", Criteria: `NOT(EXACT($F2,"say ""hi"""))`, Format: intPtr(0)},
		},
		"C2:C5": {{Type: "formula", Criteria: "AND(ISNUMBER(C2),C2<0.5)", Format: intPtr(0)}},
		"E2:E5": {
			{Type: "formula", Criteria: "AND(ISNUMBER(E2),E2<-1)", Format: intPtr(0)},
			{Type: "formula", Criteria: "AND(ISNUMBER(E2),E2>100)", Format: intPtr(0)},
		},
	}
	if len(got) != len(want) {
		t.Errorf("GetConditionalFormats(S) = %+v, want %+v", got, want)
	}
	for ref, w := range want {
		if !slices.EqualFunc(got[ref], w, sameRule) {
			t.Errorf("GetConditionalFormats(S)[%q] = %+v, want %+v", ref, got[ref], w)
		}
	}
	// Every rule has its own priority.
	var prio []string
	for _, m := range regexp.MustCompile(`priority="(\d+)"`).FindAllStringSubmatch(sheetXML(t, data, 1), -1) {
		prio = append(prio, m[1])
	}
	if w := []string{"1", "2", "3", "4", "5", "6"}; !slices.Equal(prio, w) {
		t.Errorf("priorities = %q, want %q", prio, w)
	}

	// What the rules highlight, evaluated by excelize on the data.
	highlighted := func(sheetRef, formula string, row int) bool {
		t.Helper()
		shifted := regexp.MustCompile(`(\$?[A-Z]+)2\b`).ReplaceAllString(formula, "${1}"+strconv.Itoa(row))
		cell := "Z" + strconv.Itoa(row)
		if err := f.SetCellFormula("S", cell, shifted); err != nil {
			t.Fatal(err)
		}
		v, err := f.CalcCellValue("S", cell)
		if err != nil {
			t.Fatalf("CalcCellValue(%s) for %s: %v", shifted, sheetRef, err)
		}
		return v == "TRUE"
	}
	wantRows := map[string][]bool{ // rows 2…5
		`NOT(EXACT($B2,"ok"))`:         {false, true, true, true}, // blank and "OK" are not "ok"
		"$D2=TRUE":                     {false, false, true, false},
		`NOT(EXACT($F2,"say ""hi"""))`: {false, false, true, false},
		"AND(ISNUMBER(C2),C2<0.5)":     {false, true, false, false}, // blank is not below
		"AND(ISNUMBER(E2),E2<-1)":      {false, false, true, false},
		"AND(ISNUMBER(E2),E2>100)":     {false, true, false, false},
	}
	for ref, rules := range want {
		for _, r := range rules {
			w, ok := wantRows[r.Criteria]
			if !ok {
				t.Fatalf("no expectation for %s", r.Criteria)
			}
			for i, wantHit := range w {
				if hit := highlighted(ref, r.Criteria, i+2); hit != wantHit {
					t.Errorf("rule %s on row %d = %v, want %v", r.Criteria, i+2, hit, wantHit)
				}
			}
		}
	}
}

func TestWriteNewInvalid(t *testing.T) {
	s := func(c Column) []Sheet { return []Sheet{{Name: "S", Columns: []Column{c}}} }
	tests := []struct {
		name   string
		sheets []Sheet
		want   string
	}{
		{"wrap on int", s(Column{Header: "N", Kind: Int, Wrap: true}), `workbook: sheet "S": column "N": wrap on a Int column, want Text`},
		{"flag unless on bool", s(Column{Header: "B", Kind: Bool, FlagUnless: "ok"}), `workbook: sheet "S": column "B": flag unless "ok" on a Bool column, want Text`},
		{"flag unless control", s(Column{Header: "T", FlagUnless: "o\nk"}), `workbook: sheet "S": column "T": flag unless "o\nk": want at most 255 characters, without control characters`},
		{"flag unless long", s(Column{Header: "T", FlagUnless: strings.Repeat("x", 256)}), `workbook: sheet "S": column "T": flag unless "` + strings.Repeat("x", 256) + `": want at most 255 characters, without control characters`},
		{"highlight on text", s(Column{Header: "T", HighlightBelow: new(1.0)}), `workbook: sheet "S": column "T": highlight below on a Text column, want Int, Float or Percent`},
		{"highlight NaN", s(Column{Header: "N", Kind: Float, HighlightAbove: new(math.NaN())}), `workbook: sheet "S": column "N": highlight above NaN is not a finite number`},
		{"chart sheet name taken", []Sheet{
			{Name: "Summary", Columns: twoCols, Chart: &Chart{Category: "Name", Series: []string{"N"}, Sheet: "users"}},
			{Name: "Users", Columns: twoCols},
		}, `workbook: sheet "Users": duplicate sheet name "Users"`},
		{"chart sheet is the data sheet", []Sheet{
			{Name: "Summary", Columns: twoCols, Chart: &Chart{Category: "Name", Series: []string{"N"}, Sheet: "Summary"}},
		}, `workbook: sheet "Summary": duplicate sheet name "Summary"`},
		{"link in int", []Sheet{{Name: "S", Columns: twoCols, Rows: rowsOf([]any{"a", Link{Text: "x"}})}}, `workbook: sheet "S": row 1: column "N": workbook.Link value in a Int column`},
		{"link cell", []Sheet{{Name: "S", Columns: twoCols, Rows: rowsOf([]any{Link{Sheet: "X", Cell: "1A"}, 1})}}, `workbook: sheet "S": row 1: column "Name": link to sheet "X": cell "1A" is not a cell reference`},
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

// anchorRows returns the rows a drawing's anchor spans.
func anchorRows(t testing.TB, drawing string) (from, to int) {
	t.Helper()
	m := regexp.MustCompile(`<xdr:from><xdr:col>\d+</xdr:col><xdr:colOff>\d+</xdr:colOff><xdr:row>(\d+)</xdr:row>.*<xdr:to><xdr:col>\d+</xdr:col><xdr:colOff>\d+</xdr:colOff><xdr:row>(\d+)</xdr:row>`).FindStringSubmatch(drawing)
	if m == nil {
		t.Fatalf("no anchor in %s", drawing)
	}
	from, _ = strconv.Atoi(m[1])
	to, _ = strconv.Atoi(m[2])
	return from, to
}

func TestWriteChartSheet(t *testing.T) {
	tenants := func(n int) [][]any {
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = []any{fmt.Sprintf("Tenant %03d", i), float64(i%100) / 100}
		}
		return rows
	}
	cols := []Column{{Header: "Tenant"}, {Header: "MFA coverage", Kind: Percent}}
	chart := func(sheet string) *Chart {
		return &Chart{Title: "MFA coverage", Category: "Tenant", Series: []string{"MFA coverage"}, Percent: true, Sheet: sheet}
	}
	data := writeBytes(t, excelize.TotalRows,
		Sheet{Name: "Summary", Columns: cols, Rows: rowsOf(tenants(50)...), Chart: chart("Chart")},
		Sheet{Name: "Big", Columns: cols, Rows: rowsOf(tenants(500)...), Chart: chart("Big chart")},
		Sheet{Name: "Empty", Columns: cols, Chart: chart("Empty chart")},
	)
	f := open(t, data)
	if got, want := f.GetSheetList(), []string{"Chart", "Summary", "Big chart", "Big", "Empty chart", "Empty"}; !slices.Equal(got, want) {
		t.Fatalf("sheets = %q, want %q", got, want)
	}
	if got := f.GetActiveSheetIndex(); got != 0 {
		t.Errorf("active sheet = %d, want 0 (the chart)", got)
	}
	// Part names follow creation order: the chart's sheet first.
	chartSheet := sheetXML(t, data, 1)
	for _, want := range []string{`tabSelected="1"`, `showGridLines="0"`, `<drawing r:id="rId1"/>`, `<dimension ref="A1"/>`} {
		if !strings.Contains(chartSheet, want) {
			t.Errorf("chart sheet lacks %s:\n%s", want, chartSheet)
		}
	}
	if x := sheetXML(t, data, 2); strings.Contains(x, "<drawing") || strings.Contains(x, "tabSelected") {
		t.Errorf("Summary has a drawing or is selected")
	}
	if rels := zipPart(t, data, "xl/worksheets/_rels/sheet1.xml.rels"); !strings.Contains(rels, `Target="../drawings/drawing1.xml"`) {
		t.Errorf("chart sheet rels = %s", rels)
	}
	chart1 := zipPart(t, data, "xl/charts/chart1.xml")
	if got, want := chartRefs(chart1), []string{"'Summary'!$B$1", "'Summary'!$A$2:$A$51", "'Summary'!$B$2:$B$51"}; !slices.Equal(got, want) {
		t.Errorf("chart1 references = %q, want %q", got, want)
	}
	for _, re := range []string{
		`<barDir val="bar">`,
		`<catAx>.*<orientation val="maxMin">.*<title>.*<a:t>Tenant</a:t>.*</catAx>`,
		`<valAx>.*<title>.*<a:t>MFA coverage</a:t>.*</valAx>`,
		`<valAx>.*<numFmt formatCode="0%"`,
	} {
		if !regexp.MustCompile(re).MatchString(chart1) {
			t.Errorf("chart1.xml does not match %s", re)
		}
	}
	if strings.Contains(chart1, "<legend>") {
		t.Errorf("chart1.xml, of one series, has a legend")
	}
	// The charts grow with their categories: the anchors span as many rows,
	// of 20 pixels, as chartSize's heights need, on the first sheet (which
	// began as excelize's default sheet) as on the others.
	from50, to50 := anchorRows(t, zipPart(t, data, "xl/drawings/drawing1.xml"))
	from500, to500 := anchorRows(t, zipPart(t, data, "xl/drawings/drawing2.xml"))
	for _, c := range []struct{ rows, span int }{{50, to50 - from50}, {500, to500 - from500}} {
		if want := int(chartSize(c.rows, 1, 0).Height) / 20; c.span < want || c.span > want+1 {
			t.Errorf("chart of %d rows spans %d rows, want %d", c.rows, c.span, want)
		}
	}
	// The sheet of a chart without rows says so, and has no chart.
	if v, _ := f.GetCellValue("Empty chart", "A1"); v != "No rows on Empty to chart." {
		t.Errorf("Empty chart!A1 = %q", v)
	}
	if hasPart(t, data, "xl/charts/chart3.xml") || hasPart(t, data, "xl/worksheets/_rels/sheet5.xml.rels") {
		t.Errorf("the chart sheet of an empty sheet has a chart")
	}
}

func TestChartSize(t *testing.T) {
	tests := []struct {
		categories, series int
		want               uint
	}{
		{1, 1, minChartHeight},
		{50, 1, chartFrame + 50*(barHeight+barGap)},
		{50, 2, chartFrame + 50*(2*barHeight+barGap)},
		{500, 2, chartFrame + 500*(2*barHeight+barGap)},
		{5000, 2, maxChartHeight},
	}
	for _, tt := range tests {
		if got := chartSize(tt.categories, tt.series, 640); got.Height != tt.want || got.Width != 640 {
			t.Errorf("chartSize(%d, %d, 640) = %+v, want height %d", tt.categories, tt.series, got, tt.want)
		}
	}
}

func TestCRC32Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(r.IntN(256))
	}
	for _, split := range []int{0, 1, 7, 1000, 65_535, 65_536, 99_999, 100_000} {
		a, b := data[:split], data[split:]
		got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b)))
		if want := crc32.ChecksumIEEE(data); got != want {
			t.Errorf("crc32Combine at %d = %08x, want %08x", split, got, want)
		}
	}
}

func TestSpill(t *testing.T) {
	s := &spill{dir: t.TempDir(), limit: 8}
	read := func() string {
		var b bytes.Buffer
		if _, err := s.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		if int64(b.Len()) != s.Len() {
			t.Errorf("Len() = %d, WriteTo wrote %d", s.Len(), b.Len())
		}
		return b.String()
	}
	io.WriteString(s, "abc")
	if s.file != nil || read() != "abc" {
		t.Fatalf("after 3 bytes: file %v, content %q", s.file, read())
	}
	io.WriteString(s, "defghij")
	if s.file == nil || read() != "abcdefghij" {
		t.Fatalf("after 10 bytes: file %v, content %q", s.file, read())
	}
	s.Reset()
	io.WriteString(s, "xy")
	if got := read(); got != "xy" {
		t.Errorf("after Reset: %q, want xy", got)
	}
	io.WriteString(s, "0123456789")
	if got := read(); got != "xy0123456789" {
		t.Errorf("reused file: %q, want xy0123456789", got)
	}
	name := s.file.Name()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("temporary file %s still exists after Close: %v", name, err)
	}
}
