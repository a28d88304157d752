package workbook

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// This file encodes worksheet parts (SpreadsheetML, ECMA-376 Part 1 §18.3)
// as rows arrive. excelize v2.11.0's StreamWriter keeps up to 16 MiB of
// every worksheet in memory until the workbook is saved (StreamChunkSize is
// a constant), and File.SetActiveSheet parses every worksheet still held in
// memory into excelize's full worksheet model, so memory grows with the
// number of sheets and their size. Encoding here lets each worksheet go
// straight into its ZIP entry, finished before the next begins.
//
// The cells are encoded as excelize encodes them (TestCellEncoding compares
// the two): inline strings, numbers in the shortest form that reads back
// exactly, booleans as 1/0, and dates as excelize's serial numbers.

// worksheetStart opens a worksheet part.
const worksheetStart = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
	`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"` +
	` xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">`

// maxCellChars is the most characters (UTF-16 code units) Excel keeps in a cell.
const maxCellChars = excelize.TotalCellChars

// layout is what the encoder needs to know about a sheet's columns.
type layout struct {
	cols       []Column
	refs       []string  // column letters: "A", "B", …
	styles     []string  // ` s="N"` for each column, or "" for the default style
	widths     []float64 // column widths in characters
	headerAttr string    // ` s="N"` of the header cells
	flags      []int     // indexes of flagged columns
}

func newLayout(cols []Column, st styles) *layout {
	l := &layout{
		cols:       cols,
		refs:       make([]string, len(cols)),
		styles:     make([]string, len(cols)),
		widths:     make([]float64, len(cols)),
		headerAttr: styleAttr(st.header),
	}
	for i, c := range cols {
		l.refs[i], _ = excelize.ColumnNumberToName(i + 1) // checkSheet bounds the count
		l.styles[i] = styleAttr(st.kind[c.Kind])
		l.widths[i] = c.Width
		if c.Width == 0 {
			// Room for the header text and the autofilter button.
			l.widths[i] = min(max(c.Kind.defaultWidth(), float64(utf16Len(c.Header))+4), maxColumnWidth)
		}
		if c.Flag {
			l.flags = append(l.flags, i)
		}
	}
	return l
}

func styleAttr(id int) string {
	if id == 0 {
		return ""
	}
	return ` s="` + strconv.Itoa(id) + `"`
}

// appendHead appends the start of a worksheet part up to <sheetData>: the
// frozen header pane, the column widths and column styles. The first
// worksheet of the workbook is the selected tab.
func (l *layout) appendHead(buf []byte, selected bool) []byte {
	buf = append(buf, worksheetStart...)
	buf = append(buf, `<sheetViews><sheetView`...)
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

// appendHeader appends the bold header row.
func (l *layout) appendHeader(buf []byte) []byte {
	buf = append(buf, `<row r="1"`+l.headerAttr+` customFormat="1">`...)
	for i, c := range l.cols {
		buf = append(buf, `<c r="`+l.refs[i]+`1"`+l.headerAttr+` t="inlineStr">`...)
		buf = appendInlineStr(buf, c.Header)
		buf = append(buf, `</c>`...)
	}
	return append(buf, `</row>`...)
}

// appendTail appends the end of a worksheet part whose last row is last:
// the autofilter over header and data, one conditional format rule per
// flagged column over the data, and the drawing with relationship ID rel
// unless rel is empty.
func (l *layout) appendTail(buf []byte, last, flagStyle int, rel string) []byte {
	lastCol := l.refs[len(l.refs)-1]
	lastRow := strconv.Itoa(last)
	buf = append(buf, `</sheetData><autoFilter ref="$A$1:$`+lastCol+`$`+lastRow+`"/>`...)
	if len(l.flags) > 0 && last > 1 {
		buf = append(buf, `<conditionalFormatting sqref="A2:`+lastCol+lastRow+`">`...)
		for p, i := range l.flags {
			buf = append(buf, `<cfRule type="expression" dxfId="`+strconv.Itoa(flagStyle)+
				`" priority="`+strconv.Itoa(p+1)+`"><formula>$`+l.refs[i]+`2=TRUE</formula></cfRule>`...)
		}
		buf = append(buf, `</conditionalFormatting>`...)
	}
	if rel != "" {
		buf = append(buf, `<drawing r:id="`+rel+`"/>`...)
	}
	return append(buf, `</worksheet>`...)
}

// appendRow appends row number r with values, one per column.
func (l *layout) appendRow(buf []byte, r int, values []any) ([]byte, error) {
	if len(values) != len(l.cols) {
		return buf, fmt.Errorf("%d values for %d columns", len(values), len(l.cols))
	}
	var num [20]byte
	row := strconv.AppendInt(num[:0], int64(r), 10)
	buf = append(buf, `<row r="`...)
	buf = append(buf, row...)
	buf = append(buf, `">`...)
	for i, v := range values {
		var err error
		if buf, err = l.appendCell(buf, i, row, v); err != nil {
			return buf, fmt.Errorf("column %q: %w", l.cols[i].Header, err)
		}
	}
	return append(buf, `</row>`...), nil
}

// appendCell appends the cell of column i in the given row holding v, or
// nothing for a blank cell, after checking that v suits the column's kind.
func (l *layout) appendCell(buf []byte, i int, row []byte, v any) ([]byte, error) {
	k := l.cols[i].Kind
	ok := false
	switch x := v.(type) {
	case nil:
		return buf, nil
	case string:
		if ok = k == Text; ok {
			buf = appendInlineStr(l.appendCellStart(buf, i, row, "inlineStr"), x)
			return append(buf, `</c>`...), nil
		}
	case bool:
		if ok = k == Bool; ok {
			buf = append(l.appendCellStart(buf, i, row, "b"), `<v>`...)
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
			serial, isDate := excelTime(x)
			if !isDate {
				buf = appendInlineStr(l.appendCellStart(buf, i, row, "inlineStr"), x.Format(time.RFC3339Nano))
				return append(buf, `</c>`...), nil
			}
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
	default:
		return buf, fmt.Errorf("unsupported value type %T", v)
	}
	return buf, fmt.Errorf("%T value in a %v column", v, k)
}

// appendCellStart appends the start tag of the cell of column i in row,
// with its column's style and the cell type t, if any.
func (l *layout) appendCellStart(buf []byte, i int, row []byte, t string) []byte {
	buf = append(buf, `<c r="`...)
	buf = append(buf, l.refs[i]...)
	buf = append(buf, row...)
	buf = append(buf, '"')
	buf = append(buf, l.styles[i]...)
	if t != "" {
		buf = append(buf, ` t="`...)
		buf = append(buf, t...)
		buf = append(buf, '"')
	}
	return append(buf, '>')
}

// appendNumber appends a numeric cell whose value is the text v.
func (l *layout) appendNumber(buf []byte, i int, row, v []byte) []byte {
	buf = append(l.appendCellStart(buf, i, row, ""), `<v>`...)
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
// cut to Excel's limit, with white space at either end preserved.
func appendInlineStr(buf []byte, s string) []byte {
	if len(s) > maxCellChars { // a string has at least as many bytes as UTF-16 units
		s = truncateUTF16(s, maxCellChars)
	}
	buf = append(buf, `<is><t`...)
	if s != "" && (isXMLSpace(s[0]) || isXMLSpace(s[len(s)-1])) {
		buf = append(buf, ` xml:space="preserve"`...)
	}
	buf = append(buf, '>')
	buf = appendEscaped(buf, s)
	return append(buf, `</t></is>`...)
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendEscaped appends s as XML character data that Excel reads back as s:
// markup characters are escaped, carriage returns are kept as references
// (XML would turn them into newlines), characters XML 1.0 cannot carry
// become U+FFFD (as encoding/xml does), and an underscore that starts
// something Excel would decode as an escaped character (_xHHHH_) is itself
// escaped as _x005F_ (ECMA-376 Part 1 §22.9.2.19).
func appendEscaped(buf []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || !isXMLChar(r) {
				buf = append(buf, s[last:i]...)
				buf = append(buf, "\uFFFD"...)
				last = i + size
			}
			i += size
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
		case c == '_' && isEscapedChar(s[i:]):
			esc = "_x005F_"
		case c < ' ' && c != '\t' && c != '\n':
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
// whether t can be stored as a date at all (it is after 31 December 1899).
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
