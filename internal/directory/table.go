package directory

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// lastUpdated finds the table's date in its first (comment) line.
var lastUpdated = regexp.MustCompile(`\(last updated (\d{4}-\d{2}-\d{2})\)`)

// row is one data line of a table: its line number (1-based) and its fields.
type row struct {
	line   int
	fields []string
}

// parseTable splits a TSV table in the layout described in the package doc.
// It returns the date from the comment line, the rows whose field count
// matches header, and one error per problem; rows with the wrong field count
// are left out.
func parseTable(name, data string, header []string) (date string, rows []row, errs []error) {
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "#") {
		return "", nil, []error{fmt.Errorf("directory: %s: want a comment line and a header", name)}
	}
	if m := lastUpdated.FindStringSubmatch(lines[0]); m == nil {
		errs = append(errs, fmt.Errorf("directory: %s: line 1: no \"(last updated YYYY-MM-DD)\"", name))
	} else if _, err := time.Parse(time.DateOnly, m[1]); err != nil {
		errs = append(errs, fmt.Errorf("directory: %s: line 1: %w", name, err))
	} else {
		date = m[1]
	}
	if got := lines[1]; got != strings.Join(header, "\t") {
		errs = append(errs, fmt.Errorf("directory: %s: line 2: header %q, want %q", name, got, strings.Join(header, "\t")))
	}
	for i, l := range lines[2:] {
		n := i + 3
		f := strings.Split(strings.TrimSuffix(l, "\r"), "\t")
		if len(f) != len(header) {
			errs = append(errs, fmt.Errorf("directory: %s: line %d: %d fields, want %d", name, n, len(f), len(header)))
			continue
		}
		rows = append(rows, row{line: n, fields: f})
	}
	return date, rows, errs
}

// isGUID reports whether s is a GUID in its 8-4-4-4-12 hex form (either case).
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// errLine is the error for a bad field on a line.
func errLine(name string, r row, format string, args ...any) error {
	return fmt.Errorf("directory: %s: line %d: %s", name, r.line, fmt.Sprintf(format, args...))
}
