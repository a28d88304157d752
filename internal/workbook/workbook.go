// Package workbook streams tabular data into an Excel workbook (.xlsx).
//
// It knows nothing about tenants, Graph or Azure: a caller describes each
// worksheet as a list of typed columns and an iterator of rows, and [Write]
// streams them through excelize's StreamWriter, so memory stays flat however
// many rows there are.
//
// # Layout
//
// Every sheet gets a bold header row that is frozen (the pane starts below
// row 1), an autofilter over the header and data, column widths, and a number
// format per column kind. A sheet with more rows than Excel allows continues
// on "Name (2)", "Name (3)", … with the same header. The first sheet is the
// active one.
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
//			if !yield([]any{u.Name, u.SignIns, u.LastSignIn}, nil) {
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
//		},
//		Rows: rows,
//	})
package workbook

import (
	"archive/zip"
	"errors"
	"fmt"
	flate "github.com/klauspost/compress/flate"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"
)

// Kind is the type of a column. It selects the number format, the default
// width and the Go values a cell of the column accepts. The zero value is
// [Text].
type Kind int

const (
	// Text columns hold strings, always stored as text (never a formula),
	// with the "@" (text) number format. Excel keeps at most 32,767
	// characters in a cell; longer strings are cut.
	Text Kind = iota
	// Int columns hold integers (int, int8…int64, uint…uint64).
	Int
	// Float columns hold float64 or float32 values (integers are accepted too).
	// NaN and infinities are written as blank cells.
	Float
	// Bool columns hold bool values, stored as Excel booleans.
	Bool
	// Time columns hold time.Time values, stored as Excel dates in UTC with a
	// date-time number format. The zero time.Time is written as a blank cell.
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

// TimeFormat is the Excel number format of [Time] cells.
const TimeFormat = "yyyy-mm-dd hh:mm"

// Column describes one column of a sheet.
type Column struct {
	// Header is the text of the column's header cell.
	Header string
	// Kind is the type of the column's cells.
	Kind Kind
	// Width is the column width in characters; 0 selects a default for the
	// kind, widened to fit the header.
	Width float64
}

// Sheet is one worksheet.
//
// Rows yields one []any per row, in column order, with one value per column:
// string, int, int64 (or another integer type), float64, bool, time.Time, or
// nil for a blank cell. The value must suit the column's [Kind]. Write does
// not keep a row after the iterator's next step, so Rows may reuse the slice.
// A nil Rows writes a sheet with only the header row.
type Sheet struct {
	Name    string
	Columns []Column
	Rows    iter.Seq2[[]any, error]
}

// maxColumnWidth is the widest column Write sets on its own.
const maxColumnWidth = 60

// Write streams the sheets, in order, into one workbook written to w.
//
// Sheet names go through [SheetName]; two sheets whose names are then equal
// (ignoring case, as Excel does) are an error. A sheet whose rows do not fit
// on one worksheet (1,048,575 data rows under the header) continues on
// "Name (2)", "Name (3)", … with the same header.
//
// Rows are written to the workbook as they are produced and not kept:
// excelize holds at most 16 MiB of each worksheet in memory and spills the
// rest to a temporary file, so memory depends on the number of worksheets,
// not rows (about 70 MiB for a million rows of eight columns). The workbook is
// written to w as one ZIP stream at the end: if Write fails, w may have
// received part of a workbook and the caller should discard it. An error
// from a sheet's Rows is returned wrapped, as `workbook: sheet "X": …`.
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
		if err := checkColumns(s); err != nil {
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
	b := &builder{f: f, st: st, maxRows: maxRows, names: names}
	for _, s := range sheets {
		if err := b.sheet(s); err != nil {
			return err
		}
	}
	f.SetActiveSheet(0)

	// excelize's WriteTo assembles the whole ZIP in a bytes.Buffer before
	// copying it out. Handing it a ZIP writer over w instead streams the
	// archive (including the spilled sheet data) straight to w; the buffer it
	// passes stays empty. klauspost's deflate is about 1.5× faster than
	// compress/flate here for a 10% larger file (see BenchmarkWrite).
	var zw *zip.Writer
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter {
		zw = zip.NewWriter(w)
		zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(out, flate.DefaultCompression)
		})
		return zw
	})
	if err := f.Write(io.Discard); err != nil {
		return fmt.Errorf("workbook: write: %w", err)
	}
	if zw == nil {
		return errors.New("workbook: write: zip writer not used")
	}
	return nil
}

// checkColumns validates the columns of s.
func checkColumns(s Sheet) error {
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
	}
	return nil
}

// styles holds the style IDs Write uses.
type styles struct {
	header int
	kind   [Percent + 1]int
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
	return st, nil
}

// builder adds sheets to one workbook.
type builder struct {
	f       *excelize.File
	st      styles
	maxRows int
	names   map[string]bool // upper-cased sheet names already taken or reserved
	sheets  int             // worksheets created so far
	buf     []any           // the converted row handed to excelize
}

// sheet writes s, continuing on numbered sheets when it exceeds b.maxRows.
func (b *builder) sheet(s Sheet) error {
	base := SheetName(s.Name)
	cur, err := b.start(base, s.Columns)
	if err != nil {
		return fmt.Errorf("workbook: sheet %q: %w", s.Name, err)
	}
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
				if cur, err = b.start(b.continuationName(base, &part), s.Columns); err != nil {
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
	name string
	sw   *excelize.StreamWriter
	cols []Column
	row  int // last row written, 1 = header
}

// start creates the worksheet name and writes its header row.
func (b *builder) start(name string, cols []Column) (*current, error) {
	if b.sheets == 0 {
		// Reuse excelize's default sheet, so the workbook has no stray "Sheet1".
		if err := b.f.SetSheetName(b.f.GetSheetName(0), name); err != nil {
			return nil, err
		}
	} else if _, err := b.f.NewSheet(name); err != nil {
		return nil, err
	}
	b.sheets++
	sw, err := b.f.NewStreamWriter(name)
	if err != nil {
		return nil, err
	}
	// excelize's stream writer emits <col> elements in the reverse of the
	// order they were first set, and Excel wants them ascending: set the
	// last column first.
	for i := len(cols) - 1; i >= 0; i-- {
		c := cols[i]
		width := c.Width
		if width == 0 {
			// Room for the header text and the autofilter button.
			width = min(max(c.Kind.defaultWidth(), float64(utf16Len(c.Header))+4), maxColumnWidth)
		}
		if id := b.st.kind[c.Kind]; id != 0 {
			if err := sw.SetColStyle(i+1, i+1, id); err != nil {
				return nil, err
			}
		}
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return nil, err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{
		Freeze:      true,
		YSplit:      1,
		TopLeftCell: "A2",
		ActivePane:  "bottomLeft",
		Selection:   []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}},
	}); err != nil {
		return nil, err
	}
	header := b.buf[:0]
	for _, c := range cols {
		header = append(header, c.Header)
	}
	b.buf = header
	if err := sw.SetRow("A1", header, excelize.RowOpts{StyleID: b.st.header}); err != nil {
		return nil, err
	}
	return &current{name: name, sw: sw, cols: cols, row: 1}, nil
}

// finish sets the autofilter over the header and data of cur and flushes it.
func (b *builder) finish(cur *current) error {
	last, err := excelize.CoordinatesToCellName(len(cur.cols), cur.row)
	if err != nil {
		return err
	}
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
	return cur.sw.Flush()
}

// row converts one row of values for cur's columns and streams it.
func (b *builder) row(cur *current, values []any) error {
	if len(values) != len(cur.cols) {
		return fmt.Errorf("%d values for %d columns", len(values), len(cur.cols))
	}
	buf := b.buf[:0]
	for i, v := range values {
		cv, err := cellValue(cur.cols[i].Kind, v)
		if err != nil {
			return fmt.Errorf("column %q: %w", cur.cols[i].Header, err)
		}
		buf = append(buf, cv)
	}
	b.buf = buf
	cur.row++
	return cur.sw.SetRow("A"+strconv.Itoa(cur.row), buf)
}

// cellValue checks that v suits a column of kind k and returns the value to
// hand to excelize (nil for a blank cell). Unchanged values are returned as
// the same interface value, so the common case does not allocate.
func cellValue(k Kind, v any) (any, error) {
	ok := false
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		ok = k == Text
	case bool:
		ok = k == Bool
	case time.Time:
		if k == Time {
			if x.IsZero() {
				return nil, nil
			}
			if x.Location() != time.UTC {
				return x.UTC(), nil
			}
			return v, nil
		}
	case float64:
		if k == Float || k == Percent {
			return finite(v, x), nil
		}
	case float32:
		if k == Float || k == Percent {
			return finite(v, float64(x)), nil
		}
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		ok = k == Int || k == Float || k == Percent
	default:
		return nil, fmt.Errorf("unsupported value type %T", v)
	}
	if !ok {
		return nil, fmt.Errorf("%T value in a %v column", v, k)
	}
	return v, nil
}

// finite returns v, or nil (a blank cell) when x is NaN or an infinity,
// which an xlsx file cannot hold.
func finite(v any, x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return v
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
