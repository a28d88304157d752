package workbook

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// cellReading is what excelize reads back from a cell.
type cellReading struct {
	raw, formatted string
	typ            excelize.CellType
}

func (c cellReading) String() string {
	return fmt.Sprintf("raw %.60q, formatted %.60q, type %d", c.raw, c.formatted, c.typ)
}

// readColumn returns A2, A3, … of the first sheet of data, n cells.
func readColumn(t testing.TB, data []byte, n int) []cellReading {
	t.Helper()
	f := open(t, data)
	sheet := f.GetSheetName(0)
	out := make([]cellReading, n)
	for i := range out {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		var err error
		r := &out[i]
		if r.raw, err = f.GetCellValue(sheet, cell, excelize.Options{RawCellValue: true}); err != nil {
			t.Fatal(err)
		}
		if r.formatted, err = f.GetCellValue(sheet, cell); err != nil {
			t.Fatal(err)
		}
		if r.typ, err = f.GetCellType(sheet, cell); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// viaWrite writes values, one per row, in a column of kind k with Write.
func viaWrite(t testing.TB, k Kind, values []any) []cellReading {
	t.Helper()
	rows := make([][]any, len(values))
	for i, v := range values {
		rows[i] = []any{v}
	}
	data := writeBytes(t, excelize.TotalRows, Sheet{Name: "S", Columns: []Column{{Header: "H", Kind: k}}, Rows: rowsOf(rows...)})
	return readColumn(t, data, len(values))
}

// viaExcelize writes values, one per row, with excelize's own StreamWriter
// and the same styles as Write, which is how Write encoded cells before it
// encoded them itself.
func viaExcelize(t testing.TB, k Kind, values []any) []cellReading {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	if id := st.kind[k]; id != 0 {
		if err := sw.SetColStyle(1, 1, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.SetRow("A1", []any{"H"}); err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, []any{v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return readColumn(t, buf.Bytes(), len(values))
}

var textCases = []string{
	"", "plain", " lead", "trail ", "\tx", "x\n", "a\r\nb", "\r", `<&>"'`, "]]>",
	"_x0041_", "_x005F_", "_x005F_x0041_", "_xZZZZ_", "__x0041__", "_x004", "x_x0041_y_X0042_z_x00e9_",
	"\x01\x02", "a\x00b", "\x7f", "\u0085", "x\u009fy", "bad\xffutf8", "\xed\xa0\x80", "\uFFFE", "\uFFFF", "\U0001D11E music", "é",
	"=1+2", "@SUM(1,2)", strings.Repeat("a", 40_000), strings.Repeat("é", 32_767),
	strings.Repeat("😀", 20_000), "a" + strings.Repeat("😀", 16_383) + "b",
}

// differsFromExcelize reports whether Write stores the text s other than
// excelize's StreamWriter does, on purpose: excelize keeps DEL and C1
// control characters, and cuts long text without a marker.
func differsFromExcelize(s string) bool {
	return utf16Len(s) > maxCellChars || strings.ContainsFunc(s, func(r rune) bool { return 0x7f <= r && r <= 0x9f })
}

// TestCellEncoding checks that Write stores every kind of value exactly as
// excelize's StreamWriter does: same raw value, same formatted value, same
// cell type, as excelize reads them back. The exceptions are tested by
// TestWriteHostileText and TestWriteBadTimes.
func TestCellEncoding(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	var text []any
	for _, s := range textCases {
		if !differsFromExcelize(s) {
			text = append(text, s)
		}
	}
	tests := []struct {
		kind   Kind
		values []any
	}{
		{Text, text},
		{Int, []any{0, -1, math.MaxInt64, int64(math.MinInt64), uint64(math.MaxUint64), int8(-5), uint8(200), int16(-300), uint16(60000), int32(-7), uint32(7), uint(9)}},
		{Float, []any{0.0, math.Copysign(0, -1), 0.1, 1.5, -2.25, 1e300, 1e-300, 123456789.123, math.MaxFloat64, math.SmallestNonzeroFloat64,
			float32(0.1), float32(2.5), float32(math.MaxFloat32), 42, uint64(1) << 63}},
		{Percent, []any{0.25, 1, float32(0.333), 1.0 / 3}},
		{Bool, []any{true, false}},
		{Time, []any{
			utc(1900, 1, 1, 0, 0, 0, 0), utc(1900, 2, 28, 12, 0, 0, 0), utc(1900, 2, 28, 23, 59, 59, 999_999_999),
			utc(1900, 3, 1, 0, 0, 0, 0), utc(2024, 3, 5, 14, 30, 15, 123_456_789), utc(2024, 2, 29, 23, 59, 59, 0),
			utc(9999, 12, 31, 23, 59, 59, 0), utc(2500, 1, 1, 6, 0, 0, 0), utc(2199, 1, 1, 0, 0, 0, 0), utc(2189, 12, 1, 0, 0, 0, 0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			got, want := viaWrite(t, tt.kind, tt.values), viaExcelize(t, tt.kind, tt.values)
			for i := range tt.values {
				if got[i] != want[i] {
					t.Errorf("value %d (%.40q): Write gives %s, excelize %s", i, tt.values[i], got[i], want[i])
				}
			}
		})
	}
}

// wantText is what a text cell holding s reads back as: s as cellText cuts
// it, with each control character but tab, newline and carriage return,
// each character XML cannot carry, and each byte of invalid UTF-8,
// replaced by U+FFFD. (TestWriteHostileText checks cellText's cuts.)
func wantText(s string) string {
	var b strings.Builder
	for _, r := range cellText(s) {
		if r < ' ' && r != '\t' && r != '\n' && r != '\r' || 0x7f <= r && r <= 0x9f || r >= utf8.RuneSelf && !isXMLChar(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// FuzzCellText checks that any string reads back as itself, but for what
// Write marks, and, where the string has nothing excelize's escaping of
// _xHHHH_ gets wrong and nothing Write marks on purpose, exactly as
// excelize's StreamWriter stores it.
func FuzzCellText(f *testing.F) {
	for _, s := range textCases {
		if len(s) < 100 {
			f.Add(s)
		}
	}
	f.Add("0_x0000_x0000_")
	f.Fuzz(func(t *testing.T, s string) {
		got := viaWrite(t, Text, []any{s})[0]
		if want := wantText(s); got.raw != want || got.typ != excelize.CellTypeInlineString {
			t.Fatalf("%q reads back as %s, want %.60q", s, got, want)
		}
		if strings.Contains(s, "_x") || differsFromExcelize(s) {
			// excelize escapes only non-overlapping matches, so it stores
			// "_x0000_x0000_" as "_x005F_x0000_x0000_", which reads back
			// as "_x0000" and a NUL.
			return
		}
		if want := viaExcelize(t, Text, []any{s})[0]; got != want {
			t.Errorf("%q: Write gives %s, excelize %s", s, got, want)
		}
	})
}

// TestCellTextEscapes checks that text holding Excel's escape syntax
// (_xHHHH_) reads back unchanged, where excelize's own escaping would not.
func TestCellTextEscapes(t *testing.T) {
	values := []any{"0_x0000_x0000_", "_x0041__x0042_", "_x005F_x005F_", "a_x0041_x0041_x0041_b"}
	got := viaWrite(t, Text, values)
	for i, v := range values {
		if got[i].raw != v {
			t.Errorf("%q reads back as %s", v, got[i])
		}
	}
}

func TestExcelTime(t *testing.T) {
	tests := []struct {
		t    time.Time
		want float64
		ok   bool
	}{
		{time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC), 0, false},
		{time.Date(1899, 12, 31, 12, 0, 0, 0, time.UTC), 0.5, true},
		{time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), 1, true},
		{time.Date(1900, 2, 28, 0, 0, 0, 0, time.UTC), 59, true},
		{time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC), 61, true}, // Excel's 29 February 1900 is 60
		{time.Date(2024, 3, 5, 18, 0, 0, 0, time.UTC), 45356.75, true},
		{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), 2958465, true},
	}
	for _, tt := range tests {
		if got, ok := excelTime(tt.t); got != tt.want || ok != tt.ok {
			t.Errorf("excelTime(%v) = %v, %v; want %v, %v", tt.t, got, ok, tt.want, tt.ok)
		}
	}
}

// BenchmarkEncodeRow measures the encoder alone on one typical row.
func BenchmarkEncodeRow(b *testing.B) {
	lay := newLayout(benchSections[0].cols, styles{header: [3]int{1, 1, 1}, kind: [Percent + 1]int{2, 3, 4, 0, 6, 5}})
	when := time.Date(2024, 3, 5, 14, 30, 0, 0, time.UTC)
	row := []any{"Contoso", "Adele Vance", "adele@contoso.example", "Member", true, false, when, when, "Sales & <Marketing>", "8d1a5f2e-3b9c-4c1e-9f0a-2b7d6e5c4a31"}
	var buf []byte
	var s sink
	b.ReportAllocs()
	for b.Loop() {
		var err error
		s.reset()
		if buf, err = lay.appendRow(buf[:0], 1_000_000, row, &s); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}
