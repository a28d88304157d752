// Package workbook streams tabular data into an Excel workbook (.xlsx).
//
// It knows nothing about tenants, Graph or Azure: a caller describes each
// worksheet as a list of typed columns and an iterator of rows, and [Write]
// encodes every row as it arrives into the workbook's compressed ZIP
// stream, so memory stays flat however many rows and sheets there are.
// excelize builds the rest of the package (workbook, styles, relationships,
// charts).
//
// # Layout
//
// Every sheet starts with a header row: bold Calibri 11 on a light fill
// ([HeaderFill]) with a thin bottom border, wrapped so that a narrow column
// still shows its whole header, and aligned like the column's values
// (numbers and dates right, booleans centred, text left). The header is
// frozen (the pane starts below row 1) and an autofilter covers the header
// and data. Body cells are Calibri 11, aligned to the top of their row, with
// a number format per column kind and a width per column. A sheet with more
// rows than Excel allows continues on "Name (2)", "Name (3)", … with the
// same header. The first sheet is the active one. Every worksheet records
// its used range (the <dimension> element), which readers such as
// openpyxl's read-only mode rely on.
//
// # Printing
//
// Every worksheet prints in landscape, one page wide and as many pages tall
// as it needs, with the header row repeated at the top of each page (the
// sheet's _xlnm.Print_Titles name) and "<sheet> - page N of M" in the
// footer.
//
// # Highlights
//
// Rows and cells are highlighted with a light-red fill ([FlagFill]) through
// conditional formatting, so the highlights follow the rows when they are
// sorted or filtered in Excel and the cells keep their values:
//
//   - [Column].Flag highlights the rows where a Bool cell is TRUE;
//   - [Column].FlagUnless highlights the rows where a Text cell is not a
//     given value, such as a status other than "ok";
//   - [Column].HighlightBelow and HighlightAbove highlight the numeric cells
//     beyond a threshold.
//
// # Charts
//
// A [Sheet] with a [Chart] gets a clustered bar chart of some of its
// columns, with a bar per row, either to the right of its table or on a
// worksheet of its own, as tall as the number of rows needs.
//
// # Cell types
//
// Cells keep their type: numbers are numeric, booleans are boolean and
// [time.Time] values are real Excel dates (written in UTC with the format
// "yyyy-mm-dd hh:mm"). A string is always stored as text, never as a formula,
// so directory data such as a display name of "=HYPERLINK(…)" cannot become
// active content. A [Link] is text that is also a hyperlink, to a web page
// or to a cell of the workbook.
//
// # Text that Excel cannot hold
//
// Write never fails on the content of a string, and never changes it
// silently: what Excel cannot hold is replaced by a visible marker.
//
//   - Control characters other than tab, newline and carriage return (C0
//     controls, DEL and C1 controls), characters XML cannot carry (U+FFFE,
//     U+FFFF) and each byte of invalid UTF-8 become U+FFFD (�).
//   - Text longer than Excel's 32,767 characters (UTF-16 code units) is cut,
//     and ends in "…[truncated N chars]", where N is the number of characters
//     (code points) left out; the cell, marker included, is within the limit.
//   - A [time.Time] outside Excel's dates (before 1 January 1900, or after 31
//     December 9999, UTC) is written as a blank cell and reported to
//     [Options].OnBadValue. The zero time.Time is a blank cell too, and is
//     not reported: it means "never".
//   - NaN and infinities are blank cells, which an xlsx file cannot hold.
//
// # Example
//
//	rows := func(yield func([]any, error) bool) {
//		for _, u := range users {
//			if !yield([]any{u.Name, u.SignIns, u.LastSignIn, u.NoMFA}, nil) {
//				return
//			}
//		}
//	}
//	err := workbook.Write(w, workbook.Sheet{
//		Name: "Users",
//		Columns: []workbook.Column{
//			{Header: "Name"},
//			{Header: "Sign-ins", Kind: workbook.Int},
//			{Header: "Last sign-in", Kind: workbook.Time},
//			{Header: "No MFA", Kind: workbook.Bool, Flag: true},
//		},
//		Rows: rows,
//	})
package workbook

import (
	"archive/zip"
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	flate "github.com/klauspost/compress/flate"
	"github.com/xuri/excelize/v2"
)

// Kind is the type of a column. It selects the number format, the default
// width, the alignment and the Go values a cell of the column accepts. The
// zero value is [Text].
type Kind int

const (
	// Text columns hold strings and [Link] values, always stored as text
	// (never a formula), with the "@" (text) number format. Text Excel
	// cannot hold is marked (see the package documentation).
	Text Kind = iota
	// Int columns hold integers (int, int8…int64, uint…uint64).
	Int
	// Float columns hold float64 or float32 values (integers are accepted too).
	// NaN and infinities are written as blank cells.
	Float
	// Bool columns hold bool values, stored as Excel booleans.
	Bool
	// Time columns hold time.Time values, stored as Excel dates in UTC with a
	// date-time number format. The zero time.Time is written as a blank cell;
	// so is a time outside Excel's dates (before 1900 or after 9999), which
	// is also reported to [Options].OnBadValue.
	Time
	// Percent columns hold fractions (0.25 is shown as 25.00%) as float64,
	// float32 or integers. NaN and infinities are written as blank cells.
	Percent
)

var kindNames = [...]string{Text: "Text", Int: "Int", Float: "Float", Bool: "Bool", Time: "Time", Percent: "Percent"}

// String returns the name of the kind, such as "Text".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// defaultWidth is the column width, in characters, used when Column.Width is 0.
func (k Kind) defaultWidth() float64 {
	switch k {
	case Int:
		return 12
	case Float:
		return 14
	case Bool:
		return 9
	case Time:
		return 18
	case Percent:
		return 10
	default:
		return 24
	}
}

// numeric reports whether a chart can plot a column of kind k.
func (k Kind) numeric() bool { return k == Int || k == Float || k == Percent }

// Horizontal alignments of header cells.
const (
	alignLeft = iota
	alignCenter
	alignRight
)

// align returns how Excel aligns the values of kind k, which their header
// follows: numbers and dates right, booleans centred, text left.
func (k Kind) align() int {
	switch k {
	case Int, Float, Percent, Time:
		return alignRight
	case Bool:
		return alignCenter
	}
	return alignLeft
}

// TimeFormat is the Excel number format of [Time] cells.
const TimeFormat = "yyyy-mm-dd hh:mm"

// FlagFill is the RGB color of the fill that highlights flagged rows and
// cells (see [Column]): Excel's "light red".
const FlagFill = "FFC7CE"

// HeaderFill is the RGB color of the fill of header cells: a light blue.
const HeaderFill = "D9E1F2"

// headerBorder is the RGB color of the thin line under the header cells.
const headerBorder = "8EA9DB"

// LinkColor is the RGB color of the underlined text of hyperlink cells:
// the color of Excel's "Hyperlink" cell style.
const LinkColor = "0563C1"

// Column describes one column of a sheet.
type Column struct {
	// Header is the text of the column's header cell.
	Header string
	// Kind is the type of the column's cells.
	Kind Kind
	// Width is the column width in characters; 0 selects a default for the
	// kind, widened to fit the header (at most 60), or 50 for a Wrap column.
	Width float64
	// Flag marks a Bool column whose TRUE cells flag their row: every data
	// row where the cell is TRUE gets a light-red fill ([FlagFill]) across
	// the sheet's columns. The highlight is a conditional format over the
	// data range of each worksheet, continuation sheets included, not a cell
	// style: it follows the rows when they are sorted or filtered in Excel,
	// and the cells stay plain booleans. When several columns of a sheet
	// flag rows (Flag or FlagUnless), a row is highlighted if any of them
	// does. Flag on a column of another kind is an error.
	Flag bool
	// Wrap wraps the text of a Text column's cells onto as many lines as
	// they need within the column's width (50 characters unless Width says
	// otherwise), for long text such as an error message; Excel makes the
	// rows tall enough when it opens the workbook. Wrap on a column of
	// another kind is an error.
	Wrap bool
	// FlagUnless, when not empty, flags the rows of a Text column whose cell
	// is not exactly this value (case matters; a blank cell is not the
	// value): such rows get the light-red fill, as with Flag. It is meant
	// for a status column, where anything but "ok" needs a look. It must be
	// at most 255 characters long, without control characters, and is an
	// error on a column of another kind.
	FlagUnless string
	// HighlightBelow and HighlightAbove, when not nil, highlight a numeric
	// (Int, Float or Percent) cell with the light-red fill when its value is
	// below, or above, the threshold; blank cells are never highlighted.
	// Unlike Flag they highlight the cell, not the row. A Percent threshold
	// is a fraction, as the values are: new(0.5) for 50%. A threshold on a
	// column of another kind, or one that is NaN or infinite, is an error.
	HighlightBelow, HighlightAbove *float64
}

// wrapWidth is the default width of a Wrap column, in characters.
const wrapWidth = 50

// Sheet is one worksheet.
//
// Rows yields one []any per row, in column order, with one value per column:
// string, [Link], int, int64 (or another integer type), float64, bool,
// time.Time, or nil for a blank cell. The value must suit the column's
// [Kind]. Write does not keep a row after the iterator's next step, so Rows
// may reuse the slice. A nil Rows writes a sheet with only the header row.
//
// Chart, when not nil, adds a chart of the sheet's rows.
type Sheet struct {
	Name    string
	Columns []Column
	Rows    iter.Seq2[[]any, error]
	Chart   *Chart
}

// Chart describes a clustered bar chart of a sheet's rows: one group of
// horizontal bars per row, labelled with the row's Category cell and in the
// order of the rows from top to bottom, and one series of bars per Series
// column, named after its header. To show the rows by value, order them by
// value. The chart has axis titles: the category header, and ValueTitle.
// Category and Series name columns by their Header, which must be unique in
// the sheet.
//
// The chart is as tall as its bars need (9 pixels a bar, 7 between rows),
// from 300 to 16,000 pixels, so that 50 or 500 rows stay readable; beyond
// about 1,000 bars it cannot grow and the bars get thinner. It is placed at
// the top of the data sheet, to the right of the table, unless Sheet names
// a worksheet of its own.
//
// A chart of one series has no legend: its value axis title names the
// series.
//
// The chart covers the rows of the first worksheet only (a sheet that
// continues on "Name (2)" has the chart of its first part). It is meant for
// sheets with a row per tenant, such as a summary.
type Chart struct {
	// Title is the chart's title; when empty the chart has none.
	Title string
	// Category is the header of the column whose cells label the bars on
	// the vertical axis, such as "Tenant". It may be of any kind.
	Category string
	// Series are the headers of the columns to plot, which must be of kind
	// Int, Float or Percent. There must be at least one.
	Series []string
	// Percent shows the value axis as a percentage from 0% to 100%, for
	// Percent columns.
	Percent bool
	// ValueTitle is the title of the value axis; when empty it is the
	// Series headers, separated by commas.
	ValueTitle string
	// Sheet, when not empty, puts the chart on a worksheet of its own with
	// this name (made valid by [SheetName]), holding only the chart and
	// placed just before the data sheet: when the data sheet comes first,
	// the workbook opens on the chart. When the data sheet has no rows, that
	// worksheet says so in A1 instead. When empty, the chart is on the data
	// sheet, to the right of the table, and a sheet without rows gets none.
	Sheet string
}

// Link is a cell value for a Text column: text that is also a hyperlink,
// either to a web page (URL) or to a cell of the workbook (Sheet and Cell).
// The cell is shown in blue and underlined ([LinkColor]).
//
// Only an absolute http or https URL that Excel accepts (at most 2,079
// bytes, with a host, and without spaces or control characters) becomes a
// hyperlink; the whole URL, fragment included, is the link's target. A Link
// with any other URL, or with neither URL nor Sheet, is written as plain
// text, as is every Link after the first 65,530 hyperlinks of a worksheet
// (Excel's limit).
type Link struct {
	// Text is what the cell shows; when empty, the cell shows the URL, or
	// the Sheet of a link within the workbook.
	Text string
	// URL is the address of a web page.
	URL string
	// Sheet and Cell are the target of a link within the workbook, used when
	// URL is empty: the name of a sheet as given in [Sheet].Name, and a cell
	// reference such as "A12" (empty for A1). Write does not check that the
	// sheet exists; a Cell that is not a cell reference is an error.
	Sheet, Cell string
}

// Options are the settings of [WriteWith] other than the sheets. The zero
// value writes no document properties, reports nothing and keeps temporary
// files in [os.TempDir].
type Options struct {
	// Title, Subject, Description and Creator are the workbook's document
	// properties, which Excel shows under File > Info; empty ones are left
	// out. Creator is the author, such as the program's name.
	Title, Subject, Description, Creator string
	// Created is the time recorded as the workbook's creation and last
	// modification, to the second, in UTC. The zero time leaves both out:
	// Write does not read the clock, so that the same sheets give the same
	// bytes. Its year must be from 1 to 9999.
	Created time.Time
	// OnBadValue, when not nil, is called for each value that Write writes
	// as a blank cell because Excel cannot hold it: a time.Time before 1
	// January 1900 or after 31 December 9999 (the zero time.Time is not
	// reported). sheet is the worksheet's name as written, such as
	// "Users (2)"; column is the column's header; row is the cell's row
	// number, the header being row 1; value is the value. It is called on
	// the goroutine that called WriteWith, before WriteWith returns.
	OnBadValue func(sheet, column string, row int, value any)
	// TempDir is the directory for the temporary file that holds the
	// compressed rows of a large worksheet until the worksheet ends (see
	// [Write]); empty means [os.TempDir].
	TempDir string
}

// maxColumnWidth is the widest column Write sets on its own.
const maxColumnWidth = 60

// Write streams the sheets, in order, into one workbook written to w. It
// is WriteWith with the zero Options.
func Write(w io.Writer, sheets ...Sheet) error {
	return WriteWith(w, Options{}, sheets...)
}

// spillMemory is how many bytes of a worksheet's compressed rows, and of
// its hyperlinks, Write holds in memory before it moves them to a
// temporary file.
const spillMemory = 256 << 10

// WriteWith streams the sheets, in order, into one workbook written to w,
// with the document properties and reporting of opts.
//
// Sheet names go through [SheetName]; two sheets whose names are then equal
// (ignoring case, as Excel does), or equal to a chart's sheet, are an error.
// A sheet whose rows do not fit on one worksheet (1,048,575 data rows under
// the header) continues on "Name (2)", "Name (3)", … with the same header,
// highlights and filter.
//
// Rows are written as they are produced and not kept: each row is encoded
// and compressed as it arrives, one worksheet at a time, so memory does not
// grow with the number of rows or of sheets. A worksheet must begin with
// its used range, known only after its last row, so its compressed rows
// (about a tenth of their XML) wait for the end of the worksheet before
// they are copied into w after its start: up to 256 KiB in memory, the rest
// in a temporary file in opts.TempDir, which WriteWith removes before it
// returns. Hyperlinks wait the same way. (Writing twelve sheets adds about
// 10 MiB to the resident memory of BenchmarkWriteMillion, for 100,000 rows
// as for a million; see BENCHMARKS.md.) The parts that describe the
// workbook (sheet list, styles, charts) follow the worksheets at the end of
// the stream. If WriteWith fails, w may have received part of a workbook
// and the caller should discard it. An error from a sheet's Rows is
// returned wrapped, as `workbook: sheet "X": …`.
//
// WriteWith holds no global state: it is safe to call from several
// goroutines with different writers.
func WriteWith(w io.Writer, opts Options, sheets ...Sheet) error {
	return write(w, limits{rows: excelize.TotalRows, memory: spillMemory}, opts, sheets)
}

// limits are the limits WriteWith works within, which tests lower to
// exercise continuation sheets with a few rows and temporary files with a
// few bytes.
type limits struct {
	rows   int // rows per worksheet, header included
	memory int // bytes of each spill held in memory
}

// write is WriteWith within lim.
func write(w io.Writer, lim limits, opts Options, sheets []Sheet) (err error) {
	if lim.rows < 2 {
		return fmt.Errorf("workbook: row limit %d leaves no room for data", lim.rows)
	}
	if len(sheets) == 0 {
		return errors.New("workbook: no sheets")
	}
	names := make(map[string]bool, len(sheets)) // upper-cased names in use
	for _, s := range sheets {
		if err := checkSheet(s); err != nil {
			return err
		}
		taken := []string{SheetName(s.Name)}
		if s.Chart != nil && s.Chart.Sheet != "" {
			taken = append(taken, SheetName(s.Chart.Sheet))
		}
		for _, name := range taken {
			key := strings.ToUpper(name)
			if names[key] {
				return fmt.Errorf("workbook: sheet %q: duplicate sheet name %q", s.Name, name)
			}
			names[key] = true
		}
	}
	core, err := coreProperties(opts)
	if err != nil {
		return err
	}

	f := excelize.NewFile()
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("workbook: %w", cerr)
		}
	}()
	st, err := newStyles(f)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	// klauspost's deflate is about 1.5× faster than compress/flate here for
	// a 10% larger file (see BenchmarkWrite).
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.DefaultCompression)
	})
	b := &builder{
		f: f, zw: zw, st: st, opts: &opts, maxRows: lim.rows, names: names, parts: map[string]string{},
		body:  spill{dir: opts.TempDir, limit: lim.memory},
		links: spill{dir: opts.TempDir, limit: lim.memory},
		rels:  spill{dir: opts.TempDir, limit: lim.memory},
	}
	defer func() {
		if cerr := closeAll(&b.body, &b.links, &b.rels); cerr != nil && err == nil {
			err = fmt.Errorf("workbook: %w", cerr)
		}
	}()
	for _, s := range sheets {
		if err := b.sheet(s); err != nil {
			return err
		}
	}
	f.SetActiveSheet(0)

	// excelize writes the other parts through pw into the same ZIP stream.
	// Its WriteTo would assemble the whole archive in a bytes.Buffer before
	// copying it out; with a ZIP writer of our own the buffer it passes stays
	// empty.
	pw := &partWriter{zw: zw, streamed: b.parts, core: core}
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return pw })
	if err := f.Write(io.Discard); err != nil {
		return fmt.Errorf("workbook: write: %w", err)
	}
	return nil
}

// coreProperties returns the core properties part for opts.
func coreProperties(opts Options) ([]byte, error) {
	// The part is written whatever opts says, so that excelize's defaults
	// (creator "xuri", created in 2006) never appear.
	var b strings.Builder
	b.WriteString(xml.Header + `<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"` +
		` xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"` +
		` xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`)
	for _, p := range []struct{ elem, value string }{
		{"dc:title", opts.Title},
		{"dc:subject", opts.Subject},
		{"dc:creator", opts.Creator},
		{"dc:description", opts.Description},
	} {
		if p.value != "" {
			b.WriteString("<" + p.elem + ">" + escapeXML(p.value) + "</" + p.elem + ">")
		}
	}
	if t := opts.Created; !t.IsZero() {
		t = t.UTC()
		if y := t.Year(); y < 1 || y > 9999 {
			return nil, fmt.Errorf("workbook: created time %v: year out of range", opts.Created)
		}
		ts := t.Format("2006-01-02T15:04:05Z")
		b.WriteString(`<dcterms:created xsi:type="dcterms:W3CDTF">` + ts + `</dcterms:created>` +
			`<dcterms:modified xsi:type="dcterms:W3CDTF">` + ts + `</dcterms:modified>`)
	}
	b.WriteString(`</cp:coreProperties>`)
	return []byte(b.String()), nil
}

// checkSheet validates the columns and chart of s.
func checkSheet(s Sheet) error {
	if len(s.Columns) == 0 {
		return fmt.Errorf("workbook: sheet %q: no columns", s.Name)
	}
	if len(s.Columns) > excelize.MaxColumns {
		return fmt.Errorf("workbook: sheet %q: %d columns, more than Excel's %d", s.Name, len(s.Columns), excelize.MaxColumns)
	}
	for _, c := range s.Columns {
		if err := checkColumn(c); err != nil {
			return fmt.Errorf("workbook: sheet %q: column %q: %w", s.Name, c.Header, err)
		}
	}
	if c := s.Chart; c != nil {
		if _, err := columnIndex(s.Columns, c.Category); err != nil {
			return fmt.Errorf("workbook: sheet %q: chart category: %w", s.Name, err)
		}
		if len(c.Series) == 0 {
			return fmt.Errorf("workbook: sheet %q: chart: no series", s.Name)
		}
		for i, h := range c.Series {
			j, err := columnIndex(s.Columns, h)
			if err != nil {
				return fmt.Errorf("workbook: sheet %q: chart series: %w", s.Name, err)
			}
			if k := s.Columns[j].Kind; !k.numeric() {
				return fmt.Errorf("workbook: sheet %q: chart series: column %q is %v, want Int, Float or Percent", s.Name, h, k)
			}
			if slices.Contains(c.Series[:i], h) {
				return fmt.Errorf("workbook: sheet %q: chart series: column %q listed twice", s.Name, h)
			}
		}
	}
	return nil
}

// checkColumn validates the options of c.
func checkColumn(c Column) error {
	if c.Kind < Text || c.Kind > Percent {
		return fmt.Errorf("unknown kind %v", c.Kind)
	}
	if c.Width < 0 || c.Width > excelize.MaxColumnWidth || math.IsNaN(c.Width) {
		return fmt.Errorf("width %v out of range", c.Width)
	}
	if c.Flag && c.Kind != Bool {
		return fmt.Errorf("flag on a %v column, want Bool", c.Kind)
	}
	if c.Wrap && c.Kind != Text {
		return fmt.Errorf("wrap on a %v column, want Text", c.Kind)
	}
	if c.FlagUnless != "" {
		if c.Kind != Text {
			return fmt.Errorf("flag unless %q on a %v column, want Text", c.FlagUnless, c.Kind)
		}
		if utf16Len(c.FlagUnless) > 255 || !utf8.ValidString(c.FlagUnless) || strings.ContainsFunc(c.FlagUnless, func(r rune) bool {
			return isControl(r) || r == '\t' || r == '\n' || r == '\r' || !isXMLChar(r)
		}) {
			return fmt.Errorf("flag unless %q: want at most 255 characters, without control characters", c.FlagUnless)
		}
	}
	for _, t := range []struct {
		name string
		v    *float64
	}{{"highlight below", c.HighlightBelow}, {"highlight above", c.HighlightAbove}} {
		if t.v == nil {
			continue
		}
		if !c.Kind.numeric() {
			return fmt.Errorf("%s on a %v column, want Int, Float or Percent", t.name, c.Kind)
		}
		if !isFinite(*t.v) {
			return fmt.Errorf("%s %v is not a finite number", t.name, *t.v)
		}
	}
	return nil
}

// columnIndex returns the index of the only column with the given header.
func columnIndex(cols []Column, header string) (int, error) {
	found := -1
	for i, c := range cols {
		if c.Header != header {
			continue
		}
		if found >= 0 {
			return 0, fmt.Errorf("more than one column %q", header)
		}
		found = i
	}
	if found < 0 {
		return 0, fmt.Errorf("no column %q", header)
	}
	return found, nil
}

// styles holds the style IDs Write uses.
type styles struct {
	header   [alignRight + 1]int // header cells, by alignment
	kind     [Percent + 1]int    // body cells, by kind
	wrap     int                 // cells of a Wrap column
	link     int                 // hyperlink cells
	linkWrap int                 // hyperlink cells of a Wrap column
	flag     int                 // differential format (dxf) of highlights
}

func newStyles(f *excelize.File) (styles, error) {
	var st styles
	var err error
	font := func(bold bool) *excelize.Font {
		return &excelize.Font{Family: "Calibri", Size: 11, Bold: bold}
	}
	for a, h := range [...]string{alignLeft: "left", alignCenter: "center", alignRight: "right"} {
		st.header[a], err = f.NewStyle(&excelize.Style{
			Font:      font(true),
			Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{HeaderFill}},
			Border:    []excelize.Border{{Type: "bottom", Color: headerBorder, Style: 1}},
			Alignment: &excelize.Alignment{Horizontal: h, Vertical: "center", WrapText: true},
		})
		if err != nil {
			return st, fmt.Errorf("workbook: header style: %w", err)
		}
	}
	timeFmt := TimeFormat
	top := &excelize.Alignment{Vertical: "top"}
	topWrap := &excelize.Alignment{Vertical: "top", WrapText: true}
	link := &excelize.Font{Family: "Calibri", Size: 11, Color: LinkColor, Underline: "single"}
	for _, ks := range []struct {
		id *int
		s  excelize.Style
	}{
		{&st.kind[Text], excelize.Style{Font: font(false), NumFmt: 49, Alignment: top}}, // "@": Excel keeps whatever is typed into the cell as text
		{&st.kind[Int], excelize.Style{Font: font(false), NumFmt: 3, Alignment: top}},   // "#,##0"
		{&st.kind[Float], excelize.Style{Font: font(false), NumFmt: 4, Alignment: top}}, // "#,##0.00"
		{&st.kind[Bool], excelize.Style{Font: font(false), Alignment: top}},
		{&st.kind[Percent], excelize.Style{Font: font(false), NumFmt: 10, Alignment: top}}, // "0.00%"
		{&st.kind[Time], excelize.Style{Font: font(false), CustomNumFmt: &timeFmt, Alignment: top}},
		{&st.wrap, excelize.Style{Font: font(false), NumFmt: 49, Alignment: topWrap}},
		{&st.link, excelize.Style{Font: link, NumFmt: 49, Alignment: top}},
		{&st.linkWrap, excelize.Style{Font: link, NumFmt: 49, Alignment: topWrap}},
	} {
		if *ks.id, err = f.NewStyle(&ks.s); err != nil {
			return st, fmt.Errorf("workbook: cell style: %w", err)
		}
	}
	st.flag, err = f.NewConditionalStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{FlagFill}}})
	if err != nil {
		return st, fmt.Errorf("workbook: flag style: %w", err)
	}
	return st, nil
}

// builder adds sheets to one workbook: it streams each worksheet part into
// zw and declares the sheet, its filter, print titles and chart in f.
type builder struct {
	f       *excelize.File
	zw      *zip.Writer
	st      styles
	opts    *Options
	maxRows int
	names   map[string]bool   // upper-cased sheet names already taken or reserved
	parts   map[string]string // worksheet parts written to zw → target of their drawing, or ""
	sheets  int               // worksheets created so far
	charts  int               // charts added so far
	enc     bodyEncoder       // compresses the worksheet being written into body
	bw      *bufio.Writer     // buffers the worksheet being written, into enc
	body    spill             // the compressed rows and end of the worksheet being written
	links   spill             // its <hyperlink> elements
	rels    spill             // its hyperlinks' <Relationship> elements
	buf     []byte            // the row being encoded
}

// bodyEncoder compresses the body of a worksheet part, keeping the
// checksum and size of what it is given.
type bodyEncoder struct {
	fw  *flate.Writer
	crc uint32
	n   int64
}

// reset starts a new body, compressed into out.
func (e *bodyEncoder) reset(out io.Writer) error {
	e.crc, e.n = 0, 0
	if e.fw == nil {
		fw, err := flate.NewWriter(out, flate.DefaultCompression)
		e.fw = fw
		return err
	}
	e.fw.Reset(out)
	return nil
}

// Write implements io.Writer.
func (e *bodyEncoder) Write(p []byte) (int, error) {
	e.crc = crc32.Update(e.crc, crc32.IEEETable, p)
	e.n += int64(len(p))
	return e.fw.Write(p)
}

// sheet writes s, continuing on numbered sheets when it exceeds b.maxRows,
// and its chart.
func (b *builder) sheet(s Sheet) error {
	base := SheetName(s.Name)
	var chartSheet *current // the chart's own worksheet, if any
	if c := s.Chart; c != nil && c.Sheet != "" {
		name := SheetName(c.Sheet)
		path, selected, err := b.newSheet(name)
		if err != nil {
			return fmt.Errorf("workbook: sheet %q: chart sheet: %w", s.Name, err)
		}
		chartSheet = &current{name: name, path: path, selected: selected}
	}
	lay := newLayout(s.Columns, b.st)
	cur, err := b.start(base, lay)
	if err != nil {
		return fmt.Errorf("workbook: sheet %q: %w", s.Name, err)
	}
	if chartSheet == nil {
		cur.chart = s.Chart
	}
	firstRows := 0 // last row of the first worksheet, once it is finished
	if s.Rows != nil {
		part := 1
		for row, err := range s.Rows {
			if err != nil {
				return fmt.Errorf("workbook: sheet %q: %w", s.Name, err)
			}
			if cur.row == b.maxRows {
				if err := b.finish(cur); err != nil {
					return fmt.Errorf("workbook: sheet %q: %w", s.Name, err)
				}
				if part == 1 {
					firstRows = cur.row
				}
				part++
				if cur, err = b.start(b.continuationName(base, &part), lay); err != nil {
					return fmt.Errorf("workbook: sheet %q: %w", s.Name, err)
				}
			}
			if err := b.row(cur, row); err != nil {
				return fmt.Errorf("workbook: sheet %q: row %d: %w", s.Name, cur.row, err)
			}
		}
	}
	if err := b.finish(cur); err != nil {
		return fmt.Errorf("workbook: sheet %q: %w", s.Name, err)
	}
	if firstRows == 0 {
		firstRows = cur.row
	}
	if chartSheet != nil {
		if err := b.chartSheet(chartSheet, s.Chart, lay, base, firstRows); err != nil {
			return fmt.Errorf("workbook: sheet %q: chart sheet: %w", s.Name, err)
		}
	}
	return nil
}

// continuationName returns the first free name "base (n)" with n ≥ *part,
// trimming base so the name stays within Excel's limit, and reserves it.
func (b *builder) continuationName(base string, part *int) string {
	for ; ; *part++ {
		suffix := " (" + strconv.Itoa(*part) + ")"
		name := truncateUTF16(base, maxSheetName-len(suffix)) + suffix
		if key := strings.ToUpper(name); !b.names[key] {
			b.names[key] = true
			return name
		}
	}
}

// current is the worksheet being streamed.
type current struct {
	name     string
	path     string // the worksheet's part name in the package
	selected bool   // the worksheet is the workbook's first, selected tab
	lay      *layout
	row      int    // last row written, 1 = header
	chart    *Chart // nil unless this worksheet gets a chart next to its table
	sink     sink   // what the row being written produced besides XML
}

// newSheet declares the worksheet name in b.f and returns its part name,
// and whether it is the first worksheet.
func (b *builder) newSheet(name string) (path string, first bool, err error) {
	if b.sheets == 0 {
		// Reuse excelize's default sheet, so the workbook has no stray "Sheet1".
		if err := b.f.SetSheetName(b.f.GetSheetName(0), name); err != nil {
			return "", false, err
		}
		// excelize's default sheet declares a default row height, which
		// its drawing anchors count as 18 pixels a row where Excel draws
		// 20, the count for the sheets it adds. Clear it, so that a chart
		// on the first sheet is as tall as on the others. Only excelize's
		// model of the sheet changes: Write streams the sheet itself.
		if err := b.f.SetSheetProps(name, &excelize.SheetPropsOptions{DefaultRowHeight: new(0.0)}); err != nil {
			return "", false, err
		}
	} else if _, err := b.f.NewSheet(name); err != nil {
		return "", false, err
	}
	b.sheets++
	if path, err = partName(b.f, name); err != nil {
		return "", false, err
	}
	if _, dup := b.parts[path]; dup {
		return "", false, fmt.Errorf("part %s written twice", path)
	}
	b.parts[path] = ""
	return path, b.sheets == 1, nil
}

// start declares the worksheet name in b.f and starts its body with the
// header row.
func (b *builder) start(name string, lay *layout) (*current, error) {
	path, selected, err := b.newSheet(name)
	if err != nil {
		return nil, err
	}
	b.body.Reset()
	b.links.Reset()
	b.rels.Reset()
	if err := b.enc.reset(&b.body); err != nil {
		return nil, err
	}
	if b.bw == nil {
		b.bw = bufio.NewWriterSize(&b.enc, 64<<10)
	} else {
		b.bw.Reset(&b.enc)
	}
	b.buf = lay.appendHeader(b.buf[:0])
	if _, err := b.bw.Write(b.buf); err != nil {
		return nil, err
	}
	return &current{name: name, path: path, selected: selected, lay: lay, row: 1}, nil
}

// partName returns the part name excelize gives the worksheet name.
func partName(f *excelize.File, name string) (string, error) {
	for id, n := range f.GetSheetMap() {
		if n == name {
			return "xl/worksheets/sheet" + strconv.Itoa(id) + ".xml", nil
		}
	}
	return "", fmt.Errorf("sheet %q not in the workbook", name)
}

// row encodes one row of values for cur's columns and streams it.
func (b *builder) row(cur *current, values []any) error {
	s := &cur.sink
	s.reset()
	buf, err := cur.lay.appendRow(b.buf[:0], cur.row+1, values, s)
	b.buf = buf
	if err != nil {
		return err
	}
	cur.row++
	if _, err := b.bw.Write(buf); err != nil {
		return err
	}
	if len(s.links) > 0 {
		if _, err := b.links.Write(s.links); err != nil {
			return err
		}
		if _, err := b.rels.Write(s.rels); err != nil {
			return err
		}
	}
	if on := b.opts.OnBadValue; on != nil {
		for _, i := range s.bad {
			on(cur.name, cur.lay.cols[i].Header, cur.row, values[i])
		}
	}
	return nil
}

// finish ends the worksheet cur: it writes the end of its body (filter,
// highlights, hyperlinks, page setup, drawing), then the whole part, with
// its head, into the ZIP stream, and its relationships, if any; and it
// declares the filter, print titles and chart in b.f.
func (b *builder) finish(cur *current) error {
	lay := cur.lay
	drawing := ""
	if cur.chart != nil && cur.row > 1 {
		b.charts++
		drawing = drawingTarget(b.charts)
	}
	b.buf = lay.appendTail(b.buf[:0], cur.row, b.st.flag)
	if cur.sink.n > 0 {
		b.buf = append(b.buf, `<hyperlinks>`...)
	}
	if _, err := b.bw.Write(b.buf); err != nil {
		return err
	}
	b.buf = b.buf[:0]
	if cur.sink.n > 0 {
		if _, err := b.links.WriteTo(b.bw); err != nil {
			return err
		}
		b.buf = append(b.buf, `</hyperlinks>`...)
	}
	b.buf = appendEnd(b.buf, drawing != "")
	if _, err := b.bw.Write(b.buf); err != nil {
		return err
	}
	if err := b.bw.Flush(); err != nil {
		return err
	}
	if err := b.enc.fw.Close(); err != nil {
		return err
	}
	b.buf = lay.appendHead(b.buf[:0], cur.row, cur.selected)
	if err := writeJoined(b.zw, cur.path, b.buf, &b.body, b.enc.crc, b.enc.n); err != nil {
		return err
	}
	if err := b.writeRels(cur.path, drawing, &b.rels); err != nil {
		return err
	}
	b.parts[cur.path] = drawing

	last := lay.lastCell(cur.row)
	if err := b.f.AutoFilter(cur.name, "A1:"+last, nil); err != nil {
		return err
	}
	if strings.Contains(cur.name, "'") {
		// excelize writes the hidden _FilterDatabase name as 'name'!ref
		// without doubling the apostrophe, which Excel rejects. The name is
		// optional: the sheet's autoFilter element is what Excel uses.
		if err := b.f.DeleteDefinedName(&excelize.DefinedName{Name: "_xlnm._FilterDatabase", Scope: cur.name}); err != nil {
			return err
		}
	}
	if err := b.f.SetDefinedName(&excelize.DefinedName{
		Name: "_xlnm.Print_Titles", RefersTo: quoteSheet(cur.name) + "!$1:$1", Scope: cur.name,
	}); err != nil {
		return fmt.Errorf("print titles: %w", err)
	}
	if drawing != "" {
		cell, err := excelize.CoordinatesToCellName(len(lay.cols)+1, 1)
		if err != nil {
			return err
		}
		if err := b.addChart(cur.name, cell, cur.chart, lay, cur.name, cur.row, chartWidth); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
	}
	return nil
}

// chartSheet writes the worksheet cs, which holds only the chart c of the
// rows 2…last of the worksheet data, laid out as lay.
func (b *builder) chartSheet(cs *current, c *Chart, lay *layout, data string, last int) error {
	drawing, note := "", ""
	if last > 1 {
		b.charts++
		drawing = drawingTarget(b.charts)
	} else {
		note = "No rows on " + data + " to chart."
	}
	w, err := b.zw.Create(cs.path)
	if err != nil {
		return err
	}
	b.buf = appendChartSheet(b.buf[:0], cs.selected, note)
	if _, err := w.Write(b.buf); err != nil {
		return err
	}
	if err := b.writeRels(cs.path, drawing, nil); err != nil {
		return err
	}
	b.parts[cs.path] = drawing
	if drawing == "" {
		return nil
	}
	return b.addChart(cs.name, "A1", c, lay, data, last, chartSheetW)
}

// writeRels writes the relationships part of the worksheet part path: its
// drawing, unless drawing is empty, and the hyperlinks in links, if any.
// Without either, it writes nothing.
func (b *builder) writeRels(path, drawing string, links *spill) error {
	if drawing == "" && (links == nil || links.Len() == 0) {
		return nil
	}
	w, err := b.zw.Create(relsOf(path))
	if err != nil {
		return err
	}
	b.buf = append(b.buf[:0], relsStart...)
	if drawing != "" {
		b.buf = append(b.buf, `<Relationship Id="`+drawingRelID+`" Type="`+relTypeDrawing+`" Target="`+drawing+`"/>`...)
	}
	if _, err := w.Write(b.buf); err != nil {
		return err
	}
	if links != nil {
		if _, err := links.WriteTo(w); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, relsEnd)
	return err
}

// maxSheetName is Excel's limit on the length of a sheet name, counted in
// UTF-16 code units (so also at most 31 runes).
const maxSheetName = excelize.MaxSheetNameLength

// SheetName returns s made into a valid Excel sheet name: never empty, at
// most 31 characters (UTF-16 code units, hence also at most 31 runes), none
// of : \ / ? * [ ] (each is replaced by "_"), no control characters (replaced
// by a space), no leading or trailing apostrophe or white space, and not
// Excel's reserved name "History". An empty result becomes "Sheet".
func SheetName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case strings.ContainsRune(`:\/?*[]`, r):
			return '_'
		case unicode.IsControl(r), r == utf8RuneError:
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	s = trimName(truncateUTF16(trimName(s), maxSheetName))
	switch {
	case s == "":
		return "Sheet"
	case strings.EqualFold(s, "History"):
		return s + "_"
	}
	return s
}

// utf8RuneError is U+FFFD, which Excel does not expect in names and which
// excelize would also get for invalid XML characters.
const utf8RuneError = '\uFFFD'

// trimName removes leading and trailing white space and apostrophes.
func trimName(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r == '\'' || unicode.IsSpace(r) })
}

// truncateUTF16 returns the longest prefix of s, cut at a rune boundary,
// that is at most n UTF-16 code units long.
func truncateUTF16(s string, n int) string {
	units := 0
	for i, r := range s {
		units += utf16.RuneLen(r)
		if units > n {
			return s[:i]
		}
	}
	return s
}

// utf16Len returns the length of s in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
