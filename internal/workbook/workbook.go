// Package workbook streams tabular data into an Excel workbook (.xlsx).
//
// It knows nothing about tenants, Graph or Azure: a caller describes each
// worksheet as a list of typed columns and an iterator of rows, and [Write]
// encodes every row straight into the workbook's compressed ZIP stream, so
// memory stays flat however many rows and sheets there are. excelize builds
// the rest of the package (workbook, styles, relationships, charts).
//
// # Layout
//
// Every sheet gets a bold header row that is frozen (the pane starts below
// row 1), an autofilter over the header and data, column widths, and a number
// format per column kind. A sheet with more rows than Excel allows continues
// on "Name (2)", "Name (3)", … with the same header. The first sheet is the
// active one.
//
// A [Column] with Flag set highlights the rows where its boolean cell is
// TRUE with a light-red fill, through conditional formatting. A [Sheet] with
// a [Chart] gets a clustered column chart of some of its columns, to the
// right of the table.
//
// # Cell types
//
// Cells keep their type: numbers are numeric, booleans are boolean and
// [time.Time] values are real Excel dates (written in UTC with the format
// "yyyy-mm-dd hh:mm"). A string is always stored as text, never as a formula,
// so directory data such as a display name of "=HYPERLINK(…)" cannot become
// active content.
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
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"

	flate "github.com/klauspost/compress/flate"
	"github.com/xuri/excelize/v2"
)

// Kind is the type of a column. It selects the number format, the default
// width and the Go values a cell of the column accepts. The zero value is
// [Text].
type Kind int

const (
	// Text columns hold strings, always stored as text (never a formula),
	// with the "@" (text) number format. Excel keeps at most 32,767
	// characters in a cell; longer strings are cut. Control characters other
	// than tab, newline and carriage return, which XML cannot carry, and
	// invalid UTF-8 become U+FFFD.
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
	// a time before 1900, which Excel cannot show as a date, is written as
	// RFC 3339 text.
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

// TimeFormat is the Excel number format of [Time] cells.
const TimeFormat = "yyyy-mm-dd hh:mm"

// FlagFill is the RGB color of the fill that highlights flagged rows (see
// [Column].Flag): Excel's "light red".
const FlagFill = "FFC7CE"

// Column describes one column of a sheet.
type Column struct {
	// Header is the text of the column's header cell.
	Header string
	// Kind is the type of the column's cells.
	Kind Kind
	// Width is the column width in characters; 0 selects a default for the
	// kind, widened to fit the header.
	Width float64
	// Flag marks a Bool column whose TRUE cells flag their row: every data
	// row where the cell is TRUE gets a light-red fill ([FlagFill]) across
	// the sheet's columns. The highlight is a conditional format over the
	// data range of each worksheet, continuation sheets included, not a cell
	// style: it follows the rows when they are sorted or filtered in Excel,
	// and the cells stay plain booleans. When several columns of a sheet are
	// flags, a row is highlighted if any of them is TRUE. Flag on a column of
	// another kind is an error.
	Flag bool
}

// Sheet is one worksheet.
//
// Rows yields one []any per row, in column order, with one value per column:
// string, int, int64 (or another integer type), float64, bool, time.Time, or
// nil for a blank cell. The value must suit the column's [Kind]. Write does
// not keep a row after the iterator's next step, so Rows may reuse the slice.
// A nil Rows writes a sheet with only the header row.
//
// Chart, when not nil, adds a chart of the sheet's rows.
type Sheet struct {
	Name    string
	Columns []Column
	Rows    iter.Seq2[[]any, error]
	Chart   *Chart
}

// Chart describes a clustered column chart of a sheet's rows: one group of
// columns per row, labelled with the row's Category cell, and one series per
// Series column, named after its header. It is placed to the right of the
// table, next to the first data row, and is as wide as the number of rows
// needs, within bounds. Category and Series name columns by their Header,
// which must be unique in the sheet.
//
// The chart covers the rows of the first worksheet only (a sheet that
// continues on "Name (2)" has the chart on its first part), and a sheet
// without rows gets no chart. It is meant for sheets with a row per tenant,
// such as a summary.
type Chart struct {
	// Title is the chart's title; when empty the chart has none.
	Title string
	// Category is the header of the column whose cells label the rows on
	// the horizontal axis, such as "Tenant". It may be of any kind.
	Category string
	// Series are the headers of the columns to plot, which must be of kind
	// Int, Float or Percent. There must be at least one.
	Series []string
	// Percent shows the value axis as a percentage from 0% to 100%, for
	// Percent columns.
	Percent bool
}

// maxColumnWidth is the widest column Write sets on its own.
const maxColumnWidth = 60

// Write streams the sheets, in order, into one workbook written to w.
//
// Sheet names go through [SheetName]; two sheets whose names are then equal
// (ignoring case, as Excel does) are an error. A sheet whose rows do not fit
// on one worksheet (1,048,575 data rows under the header) continues on
// "Name (2)", "Name (3)", … with the same header, flags and filter.
//
// Rows are written as they are produced and not kept: each worksheet is
// encoded straight into its compressed entry of the ZIP stream on w, one
// worksheet at a time, so memory does not grow with the number of rows or
// of sheets and nothing is spilled to temporary files. (Writing twelve
// sheets adds under 10 MiB to the resident memory of BenchmarkWriteMillion,
// for 100,000 rows as for a million; see BENCHMARKS.md.) The parts that
// describe the workbook (sheet list, styles, charts) follow the worksheets
// at the end of the stream. If Write fails, w may have received part of a
// workbook and the caller should discard it. An error from a sheet's Rows is
// returned wrapped, as `workbook: sheet "X": …`.
//
// Write holds no global state: it is safe to call from several goroutines
// with different writers.
func Write(w io.Writer, sheets ...Sheet) error {
	return write(w, excelize.TotalRows, sheets)
}

// write is Write with the per-worksheet row limit (header included) as a
// parameter, so tests can exercise continuation sheets with a few rows.
func write(w io.Writer, maxRows int, sheets []Sheet) (err error) {
	if maxRows < 2 {
		return fmt.Errorf("workbook: row limit %d leaves no room for data", maxRows)
	}
	if len(sheets) == 0 {
		return errors.New("workbook: no sheets")
	}
	names := make(map[string]bool, len(sheets)) // upper-cased names in use
	for _, s := range sheets {
		if err := checkSheet(s); err != nil {
			return err
		}
		key := strings.ToUpper(SheetName(s.Name))
		if names[key] {
			return fmt.Errorf("workbook: sheet %q: duplicate sheet name %q", s.Name, SheetName(s.Name))
		}
		names[key] = true
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
	b := &builder{f: f, zw: zw, st: st, maxRows: maxRows, names: names, parts: map[string]string{}}
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
	pw := &partWriter{zw: zw, streamed: b.parts}
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return pw })
	if err := f.Write(io.Discard); err != nil {
		return fmt.Errorf("workbook: write: %w", err)
	}
	return nil
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
		if c.Kind < Text || c.Kind > Percent {
			return fmt.Errorf("workbook: sheet %q: column %q: unknown kind %v", s.Name, c.Header, c.Kind)
		}
		if c.Width < 0 || c.Width > excelize.MaxColumnWidth || math.IsNaN(c.Width) {
			return fmt.Errorf("workbook: sheet %q: column %q: width %v out of range", s.Name, c.Header, c.Width)
		}
		if c.Flag && c.Kind != Bool {
			return fmt.Errorf("workbook: sheet %q: column %q: flag on a %v column, want Bool", s.Name, c.Header, c.Kind)
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
	header int
	kind   [Percent + 1]int
	flag   int // differential format (dxf) of flagged rows
}

func newStyles(f *excelize.File) (styles, error) {
	var st styles
	var err error
	if st.header, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}}); err != nil {
		return st, fmt.Errorf("workbook: header style: %w", err)
	}
	timeFmt := TimeFormat
	for _, ks := range []struct {
		k Kind
		s excelize.Style
	}{
		{Text, excelize.Style{NumFmt: 49}},    // "@": Excel keeps whatever is typed into the cell as text
		{Int, excelize.Style{NumFmt: 3}},      // "#,##0"
		{Float, excelize.Style{NumFmt: 4}},    // "#,##0.00"
		{Percent, excelize.Style{NumFmt: 10}}, // "0.00%"
		{Time, excelize.Style{CustomNumFmt: &timeFmt}},
	} {
		if st.kind[ks.k], err = f.NewStyle(&ks.s); err != nil {
			return st, fmt.Errorf("workbook: %v style: %w", ks.k, err)
		}
	}
	st.flag, err = f.NewConditionalStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{FlagFill}}})
	if err != nil {
		return st, fmt.Errorf("workbook: flag style: %w", err)
	}
	return st, nil
}

// builder adds sheets to one workbook: it streams each worksheet part into
// zw and declares the sheet, its filter and its chart in f.
type builder struct {
	f       *excelize.File
	zw      *zip.Writer
	st      styles
	maxRows int
	names   map[string]bool   // upper-cased sheet names already taken or reserved
	parts   map[string]string // worksheet parts written to zw → relationship ID of their drawing, or ""
	sheets  int               // worksheets created so far
	bw      *bufio.Writer     // buffers the worksheet being written
	buf     []byte            // the row being encoded
}

// sheet writes s, continuing on numbered sheets when it exceeds b.maxRows.
func (b *builder) sheet(s Sheet) error {
	base := SheetName(s.Name)
	lay := newLayout(s.Columns, b.st)
	cur, err := b.start(base, lay)
	if err != nil {
		return fmt.Errorf("workbook: sheet %q: %w", s.Name, err)
	}
	cur.chart = s.Chart
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
	name  string
	path  string // the worksheet's part name in the package
	lay   *layout
	row   int    // last row written, 1 = header
	chart *Chart // nil unless this worksheet gets a chart
}

// start declares the worksheet name in b.f, opens its part in the ZIP
// stream and writes everything up to and including the header row.
func (b *builder) start(name string, lay *layout) (*current, error) {
	if b.sheets == 0 {
		// Reuse excelize's default sheet, so the workbook has no stray "Sheet1".
		if err := b.f.SetSheetName(b.f.GetSheetName(0), name); err != nil {
			return nil, err
		}
	} else if _, err := b.f.NewSheet(name); err != nil {
		return nil, err
	}
	b.sheets++
	path, err := partName(b.f, name)
	if err != nil {
		return nil, err
	}
	if _, dup := b.parts[path]; dup {
		return nil, fmt.Errorf("part %s written twice", path)
	}
	zf, err := b.zw.Create(path)
	if err != nil {
		return nil, err
	}
	b.parts[path] = ""
	if b.bw == nil {
		b.bw = bufio.NewWriterSize(zf, 64<<10)
	} else {
		b.bw.Reset(zf)
	}
	b.buf = lay.appendHead(b.buf[:0], b.sheets == 1)
	b.buf = lay.appendHeader(b.buf)
	if _, err := b.bw.Write(b.buf); err != nil {
		return nil, err
	}
	return &current{name: name, path: path, lay: lay, row: 1}, nil
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

// chartRelID is the relationship ID excelize gives the drawing of a
// worksheet's first chart: the drawing is the only relationship of the
// worksheets Write creates. partWriter.check verifies it.
const chartRelID = "rId1"

// finish ends the worksheet cur: it writes the autofilter, the conditional
// formats of flagged rows and the chart's drawing, closes the part, and
// declares the filter and chart in b.f.
func (b *builder) finish(cur *current) error {
	lay := cur.lay
	last, err := excelize.CoordinatesToCellName(len(lay.cols), cur.row)
	if err != nil {
		return err
	}
	chart := cur.chart != nil && cur.row > 1
	rel := ""
	if chart {
		rel = chartRelID
	}
	b.buf = lay.appendTail(b.buf[:0], cur.row, b.st.flag, rel)
	if _, err := b.bw.Write(b.buf); err != nil {
		return err
	}
	if err := b.bw.Flush(); err != nil {
		return err
	}
	b.parts[cur.path] = rel

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
	if chart {
		if err := b.addChart(cur); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
	}
	return nil
}

// addChart adds the drawing and chart parts of cur's chart to b.f. The
// worksheet part, already written, refers to the drawing as chartRelID.
func (b *builder) addChart(cur *current) error {
	c, lay := cur.chart, cur.lay
	// excelize sizes the chart's anchor from the column widths.
	for i, w := range lay.widths {
		if err := b.f.SetColWidth(cur.name, lay.refs[i], lay.refs[i], w); err != nil {
			return err
		}
	}
	sheet := "'" + strings.ReplaceAll(cur.name, "'", "''") + "'!"
	rng := func(header string, first, last int) string {
		i, _ := columnIndex(lay.cols, header) // checked by checkSheet
		col := "$" + lay.refs[i] + "$"
		ref := sheet + col + strconv.Itoa(first)
		if last > first {
			ref += ":" + col + strconv.Itoa(last)
		}
		return ref
	}
	series := make([]excelize.ChartSeries, len(c.Series))
	for i, h := range c.Series {
		series[i] = excelize.ChartSeries{
			Name:       rng(h, 1, 1),
			Categories: rng(c.Category, 2, cur.row),
			Values:     rng(h, 2, cur.row),
		}
	}
	noVary := false
	axisFont := excelize.Font{Color: "595959"} // excelize's default is a pale grey
	chart := &excelize.Chart{
		Type:       excelize.Col,
		Series:     series,
		VaryColors: &noVary, // one color per series, not per bar
		Dimension:  chartSize(cur.row-1, len(series)),
		Legend:     excelize.ChartLegend{Position: "bottom"},
		XAxis:      excelize.ChartAxis{Font: axisFont},
		YAxis:      excelize.ChartAxis{MajorGridLines: true, Font: axisFont},
		Format:     excelize.GraphicOptions{OffsetX: 8},
	}
	if c.Title != "" {
		chart.Title.Paragraph = []excelize.RichTextRun{{Text: c.Title}}
	}
	if c.Percent {
		zero, one := 0.0, 1.0
		chart.YAxis.Minimum, chart.YAxis.Maximum = &zero, &one
		chart.YAxis.NumFmt = excelize.ChartNumFmt{CustomNumFmt: "0%"}
	}
	cell, err := excelize.CoordinatesToCellName(len(lay.cols)+1, 2)
	if err != nil {
		return err
	}
	return b.f.AddChart(cur.name, cell, chart)
}

// chartSize returns the size in pixels of a chart of rows categories with
// series bars each: 290 high, and wide enough for the bars, from 480 to 1,600.
func chartSize(rows, series int) excelize.ChartDimension {
	w := min(max(480, 160+12*rows*series+8*rows), 1600)
	return excelize.ChartDimension{Width: uint(w), Height: 290}
}

// row encodes one row of values for cur's columns and streams it.
func (b *builder) row(cur *current, values []any) error {
	buf, err := cur.lay.appendRow(b.buf[:0], cur.row+1, values)
	b.buf = buf
	if err != nil {
		return err
	}
	cur.row++
	_, err = b.bw.Write(buf)
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
