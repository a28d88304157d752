package workbook

import (
	"cmp"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Chart sizes, in pixels.
const (
	barHeight      = 9     // one bar
	barGap         = 7     // between two categories
	chartFrame     = 130   // title, legend, value axis and margins
	minChartHeight = 300   // a chart of a few categories
	maxChartHeight = 16000 // about 167 inches at 96 DPI; bars get thinner beyond
	chartWidth     = 640   // a chart next to its table
	chartSheetW    = 960   // a chart on a sheet of its own
)

// chartSize returns the size in pixels of a bar chart of categories
// groups of series bars each, width wide: tall enough for every bar to be
// barHeight high, within minChartHeight and maxChartHeight.
func chartSize(categories, series int, width uint) excelize.ChartDimension {
	h := chartFrame + categories*(series*barHeight+barGap)
	return excelize.ChartDimension{Width: width, Height: uint(min(max(minChartHeight, h), maxChartHeight))}
}

// addChart adds the chart c, of the data rows 2…last of the worksheet data
// laid out as lay, to the worksheet sheet at cell, width pixels wide. The
// worksheet part, written before, refers to the drawing as drawingRelID.
func (b *builder) addChart(sheet, cell string, c *Chart, lay *layout, data string, last int, width uint) error {
	if sheet == data {
		// excelize sizes the chart's anchor from the column widths.
		for i, w := range lay.widths {
			if err := b.f.SetColWidth(sheet, lay.refs[i], lay.refs[i], w); err != nil {
				return err
			}
		}
	}
	prefix := quoteSheet(data) + "!"
	rng := func(header string, first, last int) string {
		i, _ := columnIndex(lay.cols, header) // checked by checkSheet
		col := "$" + lay.refs[i] + "$"
		ref := prefix + col + strconv.Itoa(first)
		if last > first {
			ref += ":" + col + strconv.Itoa(last)
		}
		return ref
	}
	series := make([]excelize.ChartSeries, len(c.Series))
	for i, h := range c.Series {
		series[i] = excelize.ChartSeries{
			Name:       rng(h, 1, 1),
			Categories: rng(c.Category, 2, last),
			Values:     rng(h, 2, last),
		}
	}
	noVary := false
	gap := uint(100 * barGap / barHeight)
	axisFont := excelize.Font{Color: "595959"} // excelize's default is a pale grey
	chart := &excelize.Chart{
		Type:       excelize.Bar,
		Series:     series,
		VaryColors: &noVary, // one color per series, not per bar
		Dimension:  chartSize(last-1, len(series), width),
		Legend:     excelize.ChartLegend{Position: "top"},
		// Categories read top to bottom in row order; the value axis
		// then sits at the top, where it stays in view on a tall chart.
		XAxis:    excelize.ChartAxis{Font: axisFont, ReverseOrder: true, Title: axisTitle(c.Category)},
		YAxis:    excelize.ChartAxis{MajorGridLines: true, Font: axisFont, Title: axisTitle(cmp.Or(c.ValueTitle, strings.Join(c.Series, ", ")))},
		Format:   excelize.GraphicOptions{OffsetX: 8, OffsetY: 4},
		GapWidth: &gap,
	}
	if len(series) == 1 {
		chart.Legend.Position = "none" // the value axis title names the only series
	}
	if c.Title != "" {
		chart.Title.Paragraph = []excelize.RichTextRun{{Text: c.Title}}
	}
	if c.Percent {
		zero, one := 0.0, 1.0
		chart.YAxis.Minimum, chart.YAxis.Maximum = &zero, &one
		chart.YAxis.NumFmt = excelize.ChartNumFmt{CustomNumFmt: "0%"}
	}
	return b.f.AddChart(sheet, cell, chart)
}

func axisTitle(s string) excelize.ChartTitle {
	return excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: s, Font: &excelize.Font{Color: "595959", Size: 10}}}}
}
