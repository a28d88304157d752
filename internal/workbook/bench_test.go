package workbook

import (
	"fmt"
	"iter"
	"strconv"
	"testing"
	"time"

	"github.com/tenantreport/tenantreport/internal/rss"
)

// benchSection is one sheet of the benchmark report: its columns and its
// share of the rows.
type benchSection struct {
	name   string
	weight float64
	cols   []Column
}

// benchTenants is the number of tenants in the benchmark report: the
// Summary has one row each and every section sheet is ordered by tenant.
const benchTenants = 100

// benchSections mirror the report's section sheets (DESIGN.md §5, §7):
// Tenant first, then text, counts, flags and dates.
var benchSections = []benchSection{
	{"Users", 0.30, []Column{
		{Header: "Tenant"}, {Header: "Display name"}, {Header: "User principal name", Width: 40},
		{Header: "User type", Width: 10}, {Header: "Account enabled", Kind: Bool}, {Header: "Inactive", Kind: Bool, Flag: true},
		{Header: "Created", Kind: Time}, {Header: "Last sign-in", Kind: Time}, {Header: "Department"}, {Header: "User ID", Width: 38},
	}},
	{"Licences", 0.02, []Column{
		{Header: "Tenant"}, {Header: "SKU"}, {Header: "Enabled", Kind: Int}, {Header: "Consumed", Kind: Int},
		{Header: "Unused", Kind: Int}, {Header: "Waste", Kind: Bool, Flag: true},
	}},
	{"Admin roles", 0.04, []Column{
		{Header: "Tenant"}, {Header: "Role"}, {Header: "Principal"}, {Header: "Principal type", Width: 14},
		{Header: "Privileged", Kind: Bool, Flag: true}, {Header: "Assigned", Kind: Time},
	}},
	{"MFA registration", 0.25, []Column{
		{Header: "Tenant"}, {Header: "User principal name", Width: 40}, {Header: "MFA registered", Kind: Bool},
		{Header: "MFA capable", Kind: Bool}, {Header: "Passwordless", Kind: Bool}, {Header: "Admin", Kind: Bool},
		{Header: "No MFA", Kind: Bool, Flag: true}, {Header: "Methods"}, {Header: "Updated", Kind: Time},
	}},
	{"Guests", 0.08, []Column{
		{Header: "Tenant"}, {Header: "Display name"}, {Header: "Mail", Width: 36}, {Header: "External user state", Width: 18},
		{Header: "Created", Kind: Time}, {Header: "Last sign-in", Kind: Time}, {Header: "Stale", Kind: Bool, Flag: true},
	}},
	{"Devices", 0.20, []Column{
		{Header: "Tenant"}, {Header: "Display name"}, {Header: "Operating system", Width: 16}, {Header: "OS version", Width: 14},
		{Header: "Compliant", Kind: Bool}, {Header: "Managed", Kind: Bool}, {Header: "Last sign-in", Kind: Time},
		{Header: "Stale", Kind: Bool, Flag: true}, {Header: "Device ID", Width: 38},
	}},
	{"Conditional access", 0.02, []Column{
		{Header: "Tenant"}, {Header: "Policy"}, {Header: "State", Width: 12}, {Header: "Created", Kind: Time},
		{Header: "Modified", Kind: Time}, {Header: "Grant controls"},
	}},
	{"App credentials", 0.06, []Column{
		{Header: "Tenant"}, {Header: "Application"}, {Header: "App ID", Width: 38}, {Header: "Credential type", Width: 14},
		{Header: "Expires", Kind: Time}, {Header: "Days left", Kind: Int}, {Header: "Expiring", Kind: Bool, Flag: true},
	}},
	{"Secure score", 0.005, []Column{
		{Header: "Tenant"}, {Header: "Control"}, {Header: "Score", Kind: Float}, {Header: "Max score", Kind: Float},
		{Header: "Ratio", Kind: Percent}, {Header: "Updated", Kind: Time},
	}},
	{"Domains", 0.005, []Column{
		{Header: "Tenant"}, {Header: "Domain"}, {Header: "Verified", Kind: Bool}, {Header: "Default", Kind: Bool},
		{Header: "Authentication", Width: 14},
	}},
}

var benchSummaryColumns = []Column{
	{Header: "Tenant"}, {Header: "Tenant ID", Width: 38}, {Header: "Status", Width: 10, FlagUnless: "ok"}, {Header: "Users", Kind: Int},
	{Header: "MFA coverage", Kind: Percent, HighlightBelow: new(0.5)}, {Header: "Secure score", Kind: Percent}, {Header: "Duration (s)", Kind: Float},
	{Header: "Failed", Kind: Bool, Flag: true},
}

var benchRunStatusColumns = []Column{
	{Header: "Tenant"}, {Header: "Section"}, {Header: "Status", Width: 14, FlagUnless: "ok"}, {Header: "Reason", Width: 40, Wrap: true},
	{Header: "Rows", Kind: Int}, {Header: "Requests", Kind: Int}, {Header: "Throttled", Kind: Int},
	{Header: "Duration (s)", Kind: Float}, {Header: "Failed", Kind: Bool, Flag: true},
}

// benchReport returns the sheets of a report with about total rows:
// Summary (with a chart, a link per tenant to its Run status rows, and
// highlights), the section sheets in proportion to their weights, and Run
// status (with wrapped reasons). Rows are generated on the fly, as the report reads them
// from spools, so the benchmark measures the writer, not the data.
func benchReport(total int) []Sheet {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tenant := make([]string, benchTenants)
	for i := range tenant {
		tenant[i] = fmt.Sprintf("Tenant %03d", i)
	}
	sheets := []Sheet{{
		Name:    "Summary",
		Columns: benchSummaryColumns,
		Rows: func(yield func([]any, error) bool) {
			for i, t := range tenant {
				link := Link{Text: t, Sheet: "Run status", Cell: "A" + strconv.Itoa(2+i*len(benchSections))}
				row := []any{link, fmt.Sprintf("%08d-0000-4000-8000-%012d", i, i), "ok", 1000 + i,
					float64(i%100) / 100, float64((i*7)%100) / 100, float64(i) / 3, i%17 == 0}
				if !yield(row, nil) {
					return
				}
			}
		},
		Chart: &Chart{Title: "MFA coverage", Category: "Tenant", Series: []string{"MFA coverage", "Secure score"}, Percent: true},
	}}
	for _, sec := range benchSections {
		sheets = append(sheets, Sheet{Name: sec.name, Columns: sec.cols, Rows: benchRows(sec, int(float64(total)*sec.weight), tenant, base)})
	}
	sheets = append(sheets, Sheet{
		Name:    "Run status",
		Columns: benchRunStatusColumns,
		Rows: func(yield func([]any, error) bool) {
			for i, t := range tenant {
				for j, sec := range benchSections {
					failed := (i+j)%23 == 0
					reason := ""
					if failed {
						reason = "not available: Authentication_RequestFromNonPremiumTenantOrB2CTenant"
					}
					if !yield([]any{t, sec.name, "ok", reason, i * j, 1 + i%5, i % 3, float64(j) / 10, failed}, nil) {
						return
					}
				}
			}
		},
	})
	return sheets
}

// benchRows yields n rows for sec, spread evenly over the tenants in order.
func benchRows(sec benchSection, n int, tenant []string, base time.Time) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		row := make([]any, len(sec.cols)) // reused: Write does not keep rows
		for i := range n {
			row[0] = tenant[i*len(tenant)/n]
			for c := 1; c < len(sec.cols); c++ {
				col := sec.cols[c]
				switch col.Kind {
				case Text:
					row[c] = col.Header[:3] + "-" + strconv.Itoa(i) + "@contoso.example"
				case Int:
					row[c] = i % (1000 + c)
				case Float:
					row[c] = float64(i%1000) / 7
				case Percent:
					row[c] = float64(i%100) / 100
				case Bool:
					row[c] = (i+c)%(c+2) == 0
				case Time:
					if i%11 == 0 {
						row[c] = time.Time{} // never signed in
					} else {
						row[c] = base.Add(time.Duration(i*c) * time.Minute)
					}
				}
			}
			if !yield(row, nil) {
				return
			}
		}
	}
}

// BenchmarkWriteMillion writes a report of twelve sheets shaped like the
// real one (DESIGN.md §7) with 100,000 and 1,000,000 rows in all, and
// reports the rows written per second, the process's peak resident set size
// during the sub-benchmark, and its resident set size at the start (the test
// binary and Go runtime, which the peak includes). Run it once per size:
//
//	go test -run '^$' -bench WriteMillion -benchtime 1x ./internal/workbook/
//
// The peak RSS is VmHWM from /proc/self/status, reset before each
// sub-benchmark by writing 5 to /proc/self/clear_refs (Linux 4.0 and later).
// Where that is not possible the metric is left out, or logged as the peak
// of the whole process so far.
func BenchmarkWriteMillion(b *testing.B) {
	for _, size := range []struct {
		name string
		rows int
	}{{"100k", 100_000}, {"1M", 1_000_000}} {
		b.Run(size.name, func(b *testing.B) {
			reset := rss.ResetPeak()
			start, startOK := rss.Current()
			sheets := benchReport(size.rows)
			rows := 0
			var n countingWriter
			b.ReportAllocs()
			for b.Loop() {
				rows = 0
				counted := make([]Sheet, len(sheets))
				for i, s := range sheets {
					counted[i] = s
					counted[i].Rows = countRows(s.Rows, &rows)
				}
				if err := Write(&n, counted...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(len(sheets)), "sheets")
			b.ReportMetric(float64(n)/float64(b.N)/(1<<20), "xlsx-MiB/op")
			if peak, ok := rss.Peak(); ok {
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
				if !reset {
					b.Log("could not reset VmHWM: peak-RSS-MiB is the peak of the whole process so far")
				}
			}
			if startOK {
				b.ReportMetric(float64(start)/(1<<20), "start-RSS-MiB")
			}
		})
	}
}

// countRows adds the number of rows rows yields to *n.
func countRows(rows iter.Seq2[[]any, error], n *int) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for r, err := range rows {
			*n++
			if !yield(r, err) {
				return
			}
		}
	}
}
