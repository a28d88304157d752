package workbook

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// Dump renders the workbook in r as text, for golden files: for each sheet,
// in workbook order, a line "== <name>" and then one line per row with the
// cells separated by tabs. Numbers appear as stored, booleans as true/false,
// cells with a date number format as RFC 3339 UTC times rounded to the
// second, and blank cells as empty fields. Rows are padded with empty fields
// to the sheet's widest row. Backslash, tab, newline and carriage return in
// text are written as \\, \t, \n and \r so every row stays on one line.
// A cell with a hyperlink is followed by a space and the link's target in
// angle brackets: " <https://…>" for a web page, " <#'Sheet'!A1>" for a cell
// of the workbook.
//
// Dump reads each sheet into memory; it is meant for test-sized workbooks.
func Dump(r io.ReaderAt, size int64) (string, error) {
	f, err := excelize.OpenReader(io.NewSectionReader(r, 0, size))
	if err != nil {
		return "", fmt.Errorf("workbook: dump: %w", err)
	}
	defer f.Close()
	date1904 := false
	if p, err := f.GetWorkbookProps(); err == nil && p.Date1904 != nil {
		date1904 = *p.Date1904
	}
	d := dumper{f: f, date1904: date1904, dateStyle: map[int]bool{}}
	var out strings.Builder
	for _, sheet := range f.GetSheetList() {
		if err := d.sheet(&out, sheet); err != nil {
			return "", fmt.Errorf("workbook: dump: sheet %q: %w", sheet, err)
		}
	}
	return out.String(), nil
}

type dumper struct {
	f         *excelize.File
	date1904  bool
	dateStyle map[int]bool // style ID → has a date number format
}

func (d *dumper) sheet(out *strings.Builder, sheet string) error {
	rows, err := d.f.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		return err
	}
	width := 0
	for _, row := range rows {
		width = max(width, len(row))
	}
	links, err := d.links(sheet)
	if err != nil {
		return err
	}
	out.WriteString("== " + sheet + "\n")
	for r, row := range rows {
		for c := range width {
			if c > 0 {
				out.WriteByte('\t')
			}
			if c >= len(row) || row[c] == "" {
				continue
			}
			cell, err := excelize.CoordinatesToCellName(c+1, r+1)
			if err != nil {
				return err
			}
			v, err := d.cell(sheet, cell, row[c])
			if err != nil {
				return fmt.Errorf("cell %s: %w", cell, err)
			}
			out.WriteString(v)
			if target, ok := links[cell]; ok {
				out.WriteString(" <" + escapeTSV(target) + ">")
			}
		}
		out.WriteByte('\n')
	}
	return nil
}

// links returns the targets of the sheet's hyperlinks by cell, with "#"
// before a cell of the workbook.
func (d *dumper) links(sheet string) (map[string]string, error) {
	refs, err := d.f.GetHyperLinkCells(sheet, "")
	if err != nil {
		return nil, err
	}
	external, err := d.f.GetHyperLinkCells(sheet, "External")
	if err != nil {
		return nil, err
	}
	isExternal := make(map[string]bool, len(external))
	for _, ref := range external {
		isExternal[ref] = true
	}
	links := make(map[string]string, len(refs))
	for _, ref := range refs {
		_, target, err := d.f.GetCellHyperLink(sheet, ref)
		if err != nil {
			return nil, err
		}
		if !isExternal[ref] {
			target = "#" + target
		}
		links[ref] = target
	}
	return links, nil
}

// cell renders the raw value of one non-blank cell.
func (d *dumper) cell(sheet, cell, raw string) (string, error) {
	typ, err := d.f.GetCellType(sheet, cell)
	if err != nil {
		return "", err
	}
	switch typ {
	case excelize.CellTypeBool:
		return strconv.FormatBool(raw == "1" || strings.EqualFold(raw, "true")), nil
	case excelize.CellTypeUnset, excelize.CellTypeNumber:
		style, err := d.f.GetCellStyle(sheet, cell)
		if err != nil {
			return "", err
		}
		isDate, err := d.isDateStyle(style)
		if err != nil {
			return "", err
		}
		if !isDate {
			return raw, nil
		}
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return raw, nil // a text value in a date-formatted cell
		}
		t, err := excelize.ExcelDateToTime(v, d.date1904)
		if err != nil {
			return "", err
		}
		return t.Round(time.Second).UTC().Format(time.RFC3339), nil
	}
	return escapeTSV(raw), nil
}

// isDateStyle reports whether the style's number format shows a date or time.
func (d *dumper) isDateStyle(id int) (bool, error) {
	if v, ok := d.dateStyle[id]; ok {
		return v, nil
	}
	st, err := d.f.GetStyle(id)
	if err != nil {
		return false, err
	}
	v := false
	if st.CustomNumFmt != nil {
		v = isDateFormat(*st.CustomNumFmt)
	} else {
		n := st.NumFmt
		v = 14 <= n && n <= 22 || 27 <= n && n <= 36 || 45 <= n && n <= 47 || 50 <= n && n <= 58
	}
	d.dateStyle[id] = v
	return v, nil
}

// isDateFormat reports whether a custom number format code has a date or
// time part: a y, m, d, h or s outside quoted text, escapes and [brackets]
// (elapsed-time brackets such as [h] count).
func isDateFormat(code string) bool {
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case '"':
			for i++; i < len(code) && code[i] != '"'; i++ {
			}
		case '\\', '_', '*':
			i++ // the next character is literal or padding
		case '[':
			j := strings.IndexByte(code[i:], ']')
			if j < 0 {
				return false
			}
			switch strings.ToLower(code[i+1 : i+j]) {
			case "h", "hh", "m", "mm", "s", "ss":
				return true
			}
			i += j
		case 'y', 'Y', 'm', 'M', 'd', 'D', 'h', 'H', 's', 'S':
			return true
		}
	}
	return false
}

var tsvEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`)

func escapeTSV(s string) string { return tsvEscaper.Replace(s) }
