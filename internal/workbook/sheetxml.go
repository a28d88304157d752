package workbook

import (
	"cmp"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// This file encodes worksheet parts (SpreadsheetML, ECMA-376 Part 1 §18.3)
// as rows arrive. excelize v2.11.0's StreamWriter keeps up to 16 MiB of
// every worksheet in memory until the workbook is saved (StreamChunkSize is
// a constant), and File.SetActiveSheet parses every worksheet still held in
// memory into excelize's full worksheet model, so memory grows with the
// number of sheets and their size. Encoding here lets each worksheet be
// compressed as its rows arrive, finished before the next begins.
//
// The cells are encoded as excelize encodes them (TestCellEncoding compares
// the two): inline strings, numbers in the shortest form that reads back
// exactly, booleans as 1/0, and dates as excelize's serial numbers. Where
// this package deliberately differs (text markers, dates outside Excel's
// range), the differences are documented on [Kind].
//
// A worksheet part is written in two pieces: the rows and everything after
// them (the body) as they arrive, and the part's start (the head, up to
// <sheetData>) once the worksheet ends, because the head holds the
// <dimension> element and only then is the last row known. zip.go joins
// the two into one ZIP entry.

// worksheetStart opens a worksheet part.
const worksheetStart = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
	`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"` +
	` xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">`

// maxCellChars is the most characters (UTF-16 code units) Excel keeps in a cell.
const maxCellChars = excelize.TotalCellChars

// maxLinks is the most hyperlinks Excel allows on one worksheet.
const maxLinks = excelize.TotalSheetHyperlinks + 1

// maxURLLen is the longest hyperlink address Excel accepts.
const maxURLLen = 2079

// Excel's dates: from 1 January 1900 up to, not including, 1 January 10000.
var (
	excelMinTime = time.Date(1900, time.January, 1, 0, 0, 0, 0, time.UTC)
	excelEndTime = time.Date(10000, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// layout is what the encoder needs to know about the columns of a sheet,
// computed once per sheet.
type layout struct {
	cols         []Column
	refs         []string  // column letters: "A", "B", …
	styles       []string  // ` s="N"` of each column's cells, or ""
	linkStyles   []string  // ` s="N"` of each column's hyperlink cells
	headerStyles []string  // ` s="N"` of each column's header cell
	widths       []float64 // column widths in characters
	rowRules     []string  // formulas, relative to row 2, of the rules that highlight a whole row
	cellRules    []cellRule
}

// cellRule is a conditional format that highlights cells of one column.
type cellRule struct {
	col     int
	formula string // relative to the column's cell in row 2
}

func newLayout(cols []Column, st styles) *layout {
	l := &layout{
		cols:         cols,
		refs:         make([]string, len(cols)),
		styles:       make([]string, len(cols)),
		linkStyles:   make([]string, len(cols)),
		headerStyles: make([]string, len(cols)),
		widths:       make([]float64, len(cols)),
	}
	for i, c := range cols {
		ref, _ := excelize.ColumnNumberToName(i + 1) // checkSheet bounds the count
		l.refs[i] = ref
		l.styles[i] = styleAttr(st.kind[c.Kind])
		l.linkStyles[i] = styleAttr(st.link)
		if c.Wrap {
			l.styles[i] = styleAttr(st.wrap)
			l.linkStyles[i] = styleAttr(st.linkWrap)
		}
		l.headerStyles[i] = styleAttr(st.header[c.Kind.align()])
		l.widths[i] = c.Width
		switch {
		case c.Width != 0:
		case c.Wrap:
			l.widths[i] = wrapWidth
		default:
			// Headers wrap between words: room for the longest word and
			// the autofilter button, not for the whole header on one line.
			l.widths[i] = min(max(c.Kind.defaultWidth(), float64(longestWord(c.Header))+4), maxColumnWidth)
		}
		if c.Flag {
			l.rowRules = append(l.rowRules, `$`+ref+`2=TRUE`)
		}
	}
	// Rules on text follow the flags, so that a sheet that only has flags
	// keeps the rules, and the priorities, it had before there were others.
	for i, c := range cols {
		if c.FlagUnless != "" {
			l.rowRules = append(l.rowRules, `NOT(EXACT($`+l.refs[i]+`2,"`+strings.ReplaceAll(c.FlagUnless, `"`, `""`)+`"))`)
		}
	}
	for i, c := range cols {
		ref := l.refs[i] + "2"
		if c.HighlightBelow != nil {
			l.cellRules = append(l.cellRules, cellRule{i, `AND(ISNUMBER(` + ref + `),` + ref + `<` + formulaNumber(*c.HighlightBelow) + `)`})
		}
		if c.HighlightAbove != nil {
			l.cellRules = append(l.cellRules, cellRule{i, `AND(ISNUMBER(` + ref + `),` + ref + `>` + formulaNumber(*c.HighlightAbove) + `)`})
		}
	}
	return l
}

// formulaNumber formats x as a number in a formula, such as 0.5 or 1E-07.
func formulaNumber(x float64) string { return strconv.FormatFloat(x, 'G', -1, 64) }

func styleAttr(id int) string {
	if id == 0 {
		return ""
	}
	return ` s="` + strconv.Itoa(id) + `"`
}

// lastCell returns the reference of the bottom-right cell of a worksheet
// whose last row is last.
func (l *layout) lastCell(last int) string {
	return l.refs[len(l.refs)-1] + strconv.Itoa(last)
}

// appendHead appends the start of a worksheet part whose last row is last,
// up to <sheetData>: the page setup flag, the dimension, the frozen header
// pane, the column widths and column styles. A selected worksheet is the
// workbook's selected tab.
func (l *layout) appendHead(buf []byte, last int, selected bool) []byte {
	buf = append(buf, worksheetStart+`<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr><dimension ref="A1`...)
	if end := l.lastCell(last); end != "A1" {
		buf = append(buf, ':')
		buf = append(buf, end...)
	}
	buf = append(buf, `"/><sheetViews><sheetView`...)
	if selected {
		buf = append(buf, ` tabSelected="1"`...)
	}
	buf = append(buf, ` workbookViewId="0">`+
		`<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>`+
		`<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>`+
		`</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>`...)
	for i := range l.cols {
		n := strconv.Itoa(i + 1)
		buf = append(buf, `<col min="`+n+`" max="`+n+`" width="`...)
		buf = strconv.AppendFloat(buf, l.widths[i], 'f', -1, 64)
		buf = append(buf, `" customWidth="1"`...)
		if s := l.styles[i]; s != "" {
			buf = append(buf, ` style="`...)
			buf = append(buf, s[len(` s="`):]...)
		}
		buf = append(buf, `/>`...)
	}
	return append(buf, `</cols><sheetData>`...)
}

// appendHeader appends the header row, tall enough for its wrapped
// headers: readers do not all size rows to wrapped text when they open a
// workbook, and a header cut off mid-word says nothing.
func (l *layout) appendHeader(buf []byte) []byte {
	lines := 1
	for i, c := range l.cols {
		lines = max(lines, wrappedLines(c.Header, l.widths[i]-2))
	}
	buf = append(buf, `<row r="1"`+l.headerStyles[0]+` customFormat="1"`...)
	if lines > 1 {
		buf = append(buf, ` ht="`...)
		buf = strconv.AppendFloat(buf, float64(lines)*headerLineHeight, 'f', -1, 64)
		buf = append(buf, `" customHeight="1"`...)
	}
	buf = append(buf, '>')
	for i, c := range l.cols {
		buf = append(buf, `<c r="`+l.refs[i]+`1"`+l.headerStyles[i]+` t="inlineStr">`...)
		buf = appendInlineStr(buf, c.Header)
		buf = append(buf, `</c>`...)
	}
	return append(buf, `</row>`...)
}

// appendTail appends what follows the rows of a worksheet whose last row
// is last, up to where its hyperlinks go: the autofilter over header and
// data, and the conditional formats over the data, all with the
// differential format flagStyle.
func (l *layout) appendTail(buf []byte, last, flagStyle int) []byte {
	lastCol := l.refs[len(l.refs)-1]
	lastRow := strconv.Itoa(last)
	buf = append(buf, `</sheetData><autoFilter ref="$A$1:$`+lastCol+`$`+lastRow+`"/>`...)
	if last < 2 {
		return buf
	}
	dxf := strconv.Itoa(flagStyle)
	priority := 0
	rule := func(buf []byte, formula string) []byte {
		priority++
		return append(buf, `<cfRule type="expression" dxfId="`+dxf+`" priority="`+strconv.Itoa(priority)+
			`"><formula>`+escapeXML(formula)+`</formula></cfRule>`...)
	}
	if len(l.rowRules) > 0 {
		buf = append(buf, `<conditionalFormatting sqref="A2:`+lastCol+lastRow+`">`...)
		for _, f := range l.rowRules {
			buf = rule(buf, f)
		}
		buf = append(buf, `</conditionalFormatting>`...)
	}
	for i, r := range l.cellRules { // one element per column, holding the column's rules
		col := l.refs[r.col]
		if i == 0 || l.cellRules[i-1].col != r.col {
			buf = append(buf, `<conditionalFormatting sqref="`+col+`2:`+col+lastRow+`">`...)
		}
		buf = rule(buf, r.formula)
		if i == len(l.cellRules)-1 || l.cellRules[i+1].col != r.col {
			buf = append(buf, `</conditionalFormatting>`...)
		}
	}
	return buf
}

// pageSetup is the print setup of every worksheet: margins, landscape
// pages one page wide and as many pages tall as needed, and a footer with
// the sheet name and the page number.
const pageSetup = `<pageMargins left="0.5" right="0.5" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>` +
	`<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>` +
	`<headerFooter><oddFooter>&amp;C&amp;A - page &amp;P of &amp;N</oddFooter></headerFooter>`

// appendEnd appends the end of a worksheet part, after its hyperlinks: the
// page setup, and the drawing with relationship ID drawingRelID if drawing.
func appendEnd(buf []byte, drawing bool) []byte {
	buf = append(buf, pageSetup...)
	if drawing {
		buf = append(buf, `<drawing r:id="`+drawingRelID+`"/>`...)
	}
	return append(buf, `</worksheet>`...)
}

// appendChartSheet appends the whole worksheet part of a sheet that holds
// only a chart: no grid lines, printed one page wide, and the drawing with
// relationship ID drawingRelID. Without a chart it holds the text note in
// A1 instead.
func appendChartSheet(buf []byte, selected bool, note string) []byte {
	buf = append(buf, worksheetStart+`<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr><dimension ref="A1"/>`+
		`<sheetViews><sheetView showGridLines="0"`...)
	if selected {
		buf = append(buf, ` tabSelected="1"`...)
	}
	buf = append(buf, ` workbookViewId="0"/></sheetViews><sheetFormatPr defaultRowHeight="15"/><sheetData>`...)
	if note != "" {
		buf = append(buf, `<row r="1"><c r="A1" t="inlineStr">`...)
		buf = appendInlineStr(buf, note)
		buf = append(buf, `</c></row>`...)
	}
	buf = append(buf, `</sheetData><pageMargins left="0.5" right="0.5" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>`+
		`<pageSetup orientation="portrait" fitToWidth="1" fitToHeight="0"/>`...)
	if note == "" {
		buf = append(buf, `<drawing r:id="`+drawingRelID+`"/>`...)
	}
	return append(buf, `</worksheet>`...)
}

// sink collects what encoding a row produces besides the row's XML.
type sink struct {
	links []byte // <hyperlink> elements, for the worksheet's <hyperlinks>
	rels  []byte // <Relationship> elements, for the worksheet's relationships part
	n     int    // hyperlinks on the worksheet so far, including these
	ext   int    // external hyperlinks among them
	bad   []int  // indexes of the columns whose value was out of range and written blank
}

// reset empties s for the next row, keeping the hyperlink count.
func (s *sink) reset() {
	s.links, s.rels, s.bad = s.links[:0], s.rels[:0], s.bad[:0]
}

// appendRow appends row number r with values, one per column. Hyperlinks
// and blanked values are recorded in s.
func (l *layout) appendRow(buf []byte, r int, values []any, s *sink) ([]byte, error) {
	if len(values) != len(l.cols) {
		return buf, fmt.Errorf("%d values for %d columns", len(values), len(l.cols))
	}
	var num [20]byte
	row := strconv.AppendInt(num[:0], int64(r), 10)
	buf = append(buf, `<row r="`...)
	buf = append(buf, row...)
	// A row with wrapped text is as tall as its longest cell, capped:
	// readers do not all size rows to wrapped text on their own.
	lines := 1
	for i, c := range l.cols {
		if !c.Wrap {
			continue
		}
		switch x := values[i].(type) {
		case string:
			lines = max(lines, wrappedLines(x, l.widths[i]-1))
		case Link:
			lines = max(lines, wrappedLines(x.Text, l.widths[i]-1))
		}
	}
	if lines > 1 {
		buf = append(buf, `" ht="`...)
		buf = strconv.AppendFloat(buf, float64(min(lines, maxWrappedLines))*headerLineHeight, 'f', -1, 64)
		buf = append(buf, `" customHeight="1`...)
	}
	buf = append(buf, `">`...)
	for i, v := range values {
		var err error
		if buf, err = l.appendCell(buf, i, row, v, s); err != nil {
			return buf, fmt.Errorf("column %q: %w", l.cols[i].Header, err)
		}
	}
	return append(buf, `</row>`...), nil
}

// appendCell appends the cell of column i in the given row holding v, or
// nothing for a blank cell, after checking that v suits the column's kind.
func (l *layout) appendCell(buf []byte, i int, row []byte, v any, s *sink) ([]byte, error) {
	k := l.cols[i].Kind
	ok := false
	switch x := v.(type) {
	case nil:
		return buf, nil
	case string:
		if ok = k == Text; ok {
			buf = appendInlineStr(l.appendCellStart(buf, l.styles[i], i, row, "inlineStr"), x)
			return append(buf, `</c>`...), nil
		}
	case bool:
		if ok = k == Bool; ok {
			buf = append(l.appendCellStart(buf, l.styles[i], i, row, "b"), `<v>`...)
			if x {
				buf = append(buf, '1')
			} else {
				buf = append(buf, '0')
			}
			return append(buf, `</v></c>`...), nil
		}
	case time.Time:
		if ok = k == Time; ok {
			if x.IsZero() {
				return buf, nil
			}
			x = x.UTC()
			if x.Before(excelMinTime) || !x.Before(excelEndTime) {
				s.bad = append(s.bad, i)
				return buf, nil
			}
			serial, _ := excelTime(x)
			var b [32]byte
			return l.appendNumber(buf, i, row, strconv.AppendFloat(b[:0], serial, 'f', -1, 64)), nil
		}
	case float64:
		if ok = k == Float || k == Percent; ok {
			if isFinite(x) {
				var b [32]byte
				return l.appendNumber(buf, i, row, strconv.AppendFloat(b[:0], x, 'f', -1, 64)), nil
			}
			return buf, nil // an xlsx file cannot hold NaN or an infinity
		}
	case float32:
		if ok = k == Float || k == Percent; ok {
			if isFinite(float64(x)) {
				var b [32]byte
				return l.appendNumber(buf, i, row, strconv.AppendFloat(b[:0], float64(x), 'f', -1, 32)), nil
			}
			return buf, nil
		}
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		if ok = k == Int || k == Float || k == Percent; ok {
			var b [20]byte
			return l.appendNumber(buf, i, row, appendInteger(b[:0], x)), nil
		}
	case Link:
		if ok = k == Text; ok {
			return l.appendLink(buf, i, row, x, s)
		}
	default:
		return buf, fmt.Errorf("unsupported value type %T", v)
	}
	return buf, fmt.Errorf("%T value in a %v column", v, k)
}

// appendLink appends the text cell of a Link and records its hyperlink in
// s, unless the link has no valid target or the worksheet has run out of
// hyperlinks, when the cell is plain text.
func (l *layout) appendLink(buf []byte, i int, row []byte, x Link, s *sink) ([]byte, error) {
	text := cmp.Or(x.Text, x.URL, x.Sheet)
	location := ""
	external := false
	switch {
	case x.URL != "":
		external = isWebURL(x.URL)
	case x.Sheet != "":
		cell := cmp.Or(x.Cell, "A1")
		col, r, err := excelize.CellNameToCoordinates(cell)
		if err != nil {
			return buf, fmt.Errorf("link to sheet %q: cell %q is not a cell reference", x.Sheet, x.Cell)
		}
		cell, _ = excelize.CoordinatesToCellName(col, r)
		location = quoteSheet(SheetName(x.Sheet)) + "!" + cell
	}
	if !external && location == "" || s.n >= maxLinks {
		buf = appendInlineStr(l.appendCellStart(buf, l.styles[i], i, row, "inlineStr"), text)
		return append(buf, `</c>`...), nil
	}
	s.n++
	s.links = append(s.links, `<hyperlink ref="`+l.refs[i]...)
	s.links = append(s.links, row...)
	if external {
		s.ext++
		id := linkRelID(s.ext)
		s.links = append(s.links, `" r:id="`+id+`"/>`...)
		s.rels = append(s.rels, `<Relationship Id="`+id+`" Type="`+relTypeHyperlink+`" Target="`...)
		s.rels = appendAttr(s.rels, x.URL)
		s.rels = append(s.rels, `" TargetMode="External"/>`...)
	} else {
		s.links = append(s.links, `" location="`...)
		s.links = appendAttr(s.links, location)
		s.links = append(s.links, `"/>`...)
	}
	buf = appendInlineStr(l.appendCellStart(buf, l.linkStyles[i], i, row, "inlineStr"), text)
	return append(buf, `</c>`...), nil
}

// linkRelID is the relationship ID of the n-th external hyperlink of a
// worksheet (counting from 1). IDs start at rId2: rId1 is the drawing's (drawingRelID).
func linkRelID(n int) string { return "rId" + strconv.Itoa(n+1) }

// relTypeHyperlink is the relationship type of a hyperlink.
const relTypeHyperlink = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"

// isWebURL reports whether s is an absolute http or https URL that Excel
// can follow: at most maxURLLen bytes, valid UTF-8 without spaces or
// control characters, and with a host.
func isWebURL(s string) bool {
	if len(s) > maxURLLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= ' ' || isControl(r) {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return false
	}
	return strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https")
}

// quoteSheet returns the sheet name quoted for a reference, as in 'Run status'!A1.
func quoteSheet(name string) string { return "'" + strings.ReplaceAll(name, "'", "''") + "'" }

// appendCellStart appends the start tag of the cell of column i in row,
// with the style attribute style and the cell type t, if any.
func (l *layout) appendCellStart(buf []byte, style string, i int, row []byte, t string) []byte {
	buf = append(buf, `<c r="`...)
	buf = append(buf, l.refs[i]...)
	buf = append(buf, row...)
	buf = append(buf, '"')
	buf = append(buf, style...)
	if t != "" {
		buf = append(buf, ` t="`...)
		buf = append(buf, t...)
		buf = append(buf, '"')
	}
	return append(buf, '>')
}

// appendNumber appends a numeric cell whose value is the text v.
func (l *layout) appendNumber(buf []byte, i int, row, v []byte) []byte {
	buf = append(l.appendCellStart(buf, l.styles[i], i, row, ""), `<v>`...)
	buf = append(buf, v...)
	return append(buf, `</v></c>`...)
}

// appendInteger appends the decimal form of v, which is one of Go's integer types.
func appendInteger(buf []byte, v any) []byte {
	switch x := v.(type) {
	case int:
		return strconv.AppendInt(buf, int64(x), 10)
	case int8:
		return strconv.AppendInt(buf, int64(x), 10)
	case int16:
		return strconv.AppendInt(buf, int64(x), 10)
	case int32:
		return strconv.AppendInt(buf, int64(x), 10)
	case int64:
		return strconv.AppendInt(buf, x, 10)
	case uint:
		return strconv.AppendUint(buf, uint64(x), 10)
	case uint8:
		return strconv.AppendUint(buf, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(buf, uint64(x), 10)
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(buf, x, 10)
	}
	panic(fmt.Sprintf("workbook: appendInteger(%T)", v)) // unreachable: appendCell checks the type
}

func isFinite(x float64) bool { return x-x == 0 } // false for NaN and ±Inf

// appendInlineStr appends s as the <is> element of an inline string cell,
// as cellText makes it, with white space at either end preserved.
func appendInlineStr(buf []byte, s string) []byte {
	s = cellText(s)
	buf = append(buf, `<is><t`...)
	if s != "" && (isXMLSpace(s[0]) || isXMLSpace(s[len(s)-1])) {
		buf = append(buf, ` xml:space="preserve"`...)
	}
	buf = append(buf, '>')
	buf = appendEscaped(buf, s)
	return append(buf, `</t></is>`...)
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// cellText returns s cut to fit in a cell, with the marker
// "…[truncated N chars]" at the end when it is cut: N is the number of
// characters (code points, or bytes of invalid UTF-8) left out. The result
// is at most maxCellChars UTF-16 code units long, marker included.
func cellText(s string) string {
	if len(s) <= maxCellChars { // a string has at least as many bytes as UTF-16 units
		return s
	}
	if utf16Len(s) <= maxCellChars {
		return s
	}
	total := utf8.RuneCountInString(s)
	// Reserve room for the marker with as many digits as the whole string
	// has characters: N cannot have more.
	room := maxCellChars - utf16Len(truncMarker(total))
	kept := truncateUTF16(s, room)
	return kept + truncMarker(total-utf8.RuneCountInString(kept))
}

// truncMarker is the marker at the end of a text cut by n characters.
func truncMarker(n int) string { return "…[truncated " + strconv.Itoa(n) + " chars]" }

// escapeXML returns s as XML character data (see appendEscaped).
func escapeXML(s string) string { return string(appendEscaped(nil, s)) }

// appendAttr appends s as the value of an XML attribute in double quotes.
func appendAttr(buf []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			return appendEscaped(buf, s)
		}
		buf = append(appendEscaped(buf, s[:i]), "&quot;"...)
		s = s[i+1:]
	}
}

// asciiSpecial marks the ASCII bytes appendEscaped does not copy as they
// are: markup characters, carriage return, control characters other than
// tab and newline, DEL, and underscore (which may start an escape).
var asciiSpecial = func() (t [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		t[c] = c < ' ' && c != '\t' && c != '\n' || c == 0x7f || strings.IndexByte("&<>_", byte(c)) >= 0
	}
	return t
}()

// appendEscaped appends s as XML character data that Excel reads back as s,
// but for characters Excel should not be given:
//
//   - markup characters are escaped, and carriage returns are kept as
//     references (XML would turn them into newlines);
//   - control characters other than tab, newline and carriage return (C0,
//     DEL and C1), characters XML 1.0 cannot carry (such as U+FFFE), and
//     each byte of invalid UTF-8 become U+FFFD, the replacement character,
//     so that what was there stays visible;
//   - an underscore that starts something Excel would decode as an escaped
//     character (_xHHHH_) is itself escaped as _x005F_ (ECMA-376 Part 1
//     §22.9.2.19).
func appendEscaped(buf []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || !isXMLChar(r) || isControl(r) {
				buf = append(buf, s[last:i]...)
				buf = append(buf, "\uFFFD"...)
				last = i + size
			}
			i += size
			continue
		}
		if !asciiSpecial[c] {
			i++
			continue
		}
		var esc string
		switch {
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>':
			esc = "&gt;"
		case c == '\r':
			esc = "&#xD;"
		case c == '_':
			if isEscapedChar(s[i:]) {
				esc = "_x005F_"
			}
		default: // C0 control characters and DEL
			esc = "\uFFFD"
		}
		if esc != "" {
			buf = append(buf, s[last:i]...)
			buf = append(buf, esc...)
			last = i + 1
		}
		i++
	}
	return append(buf, s[last:]...)
}

// isControl reports whether r is a control character other than tab,
// newline and carriage return: C0, DEL or C1.
func isControl(r rune) bool {
	return r < ' ' && r != '\t' && r != '\n' && r != '\r' || 0x7f <= r && r <= 0x9f
}

// isEscapedChar reports whether s starts with _xHHHH_, where H is a hex digit.
func isEscapedChar(s string) bool {
	if len(s) < 7 || s[0] != '_' || s[1] != 'x' || s[6] != '_' {
		return false
	}
	for _, c := range []byte(s[2:6]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isXMLChar reports whether XML 1.0 allows the non-ASCII rune r.
func isXMLChar(r rune) bool {
	return r <= 0xD7FF || 0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= utf8.MaxRune
}

var (
	// excelZero is serial number 0 of Excel's 1900 date system.
	excelZero = time.Date(1899, time.December, 31, 0, 0, 0, 0, time.UTC)
	// excelLeapBug is the first day after Excel's fictitious 29 February
	// 1900, from which serial numbers are one day ahead.
	excelLeapBug = time.Date(1900, time.March, 1, 0, 0, 0, 0, time.UTC)
)

// excelTime returns the Excel serial number (days since 0 January 1900,
// with Excel's 1900 leap-year bug) of t, as excelize computes it, and
// whether t can be stored as a serial number at all (it is after 31
// December 1899). Write stores only times from 1 January 1900 on.
func excelTime(t time.Time) (float64, bool) {
	if !t.After(excelZero) {
		return 0, false
	}
	const day = 24 * time.Hour
	const chunk = 290 * 364 * day // less than the longest time.Duration
	days := 0.0
	diff := t.Sub(excelZero)
	for tt := t; diff >= chunk; diff = tt.Sub(excelZero) {
		days += float64(chunk / day)
		tt = tt.Add(-chunk)
	}
	rem := diff % day
	days += float64(diff-rem)/float64(day) + float64(rem)/float64(day)
	if !t.Before(excelLeapBug) {
		days++
	}
	return days, true
}

// longestWord is the length, in UTF-16 units as Excel counts, of the
// longest space-separated word of s.
func longestWord(s string) int {
	n := 0
	for _, w := range strings.Fields(s) {
		n = max(n, utf16Len(w))
	}
	return n
}

// headerLineHeight is the height in points of one line of 11-point Calibri;
// maxWrappedLines caps the height of a data row with wrapped text.
const (
	headerLineHeight = 15
	maxWrappedLines  = 10
)

// wrappedLines is how many lines s takes when wrapped at word boundaries
// into lines of width characters (a word longer than a line takes a line).
func wrappedLines(s string, width float64) int {
	lines, used := 1, 0
	for _, w := range strings.Fields(s) {
		n := utf16Len(w)
		switch {
		case used == 0:
			used = n
		case float64(used+1+n) <= width:
			used += 1 + n
		default:
			lines++
			used = n
		}
	}
	return lines
}
