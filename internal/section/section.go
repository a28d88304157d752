// Package section is the one registry of the report's sections: for each,
// its name, its sheet, the Graph permissions and licence it needs, its
// place in the report, its columns and its row type.
//
// Every other package reads the registry: settings validates
// REPORT_SECTIONS against [Names], graphdata attaches a collector to each
// name, and the report writes a sheet per [Section] with a Sheet. The
// package depends on nothing but the standard library.
//
// # Rows
//
// A row is a plain Go value: strings, numbers, [time.Time], and *bool where
// Graph may not say (nil is a blank cell, never FALSE). Rows are spooled to
// disk as JSON of these Go types, so neither the spool nor the workbook
// ever sees Graph's wire format, and [Section.Decode] reads one back.
//
// # Adding a section
//
// One file here (its row type, columns and [Register] call) and its
// collector in graphdata, plus their tests. The report, the permissions,
// the settings and the documentation follow from the registry.
package section

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Kind is the type of a column's cells.
type Kind int

const (
	Text Kind = iota
	Int
	Float
	Bool
	Time
	Percent
)

// Column is one column of a section's sheet.
type Column struct {
	Header string
	Kind   Kind
	// Width in characters; 0 picks the kind's default.
	Width float64
	// Flag marks a Bool column whose TRUE cells highlight their row.
	Flag bool
	// Wrap wraps long text in the cell instead of widening the column.
	Wrap bool
}

// Row is one row of a section: a value that knows its sort key and cells.
type Row interface {
	// Key orders the rows of one tenant: stable and meaningful to a reader
	// (names before ids), so two runs over the same data are identical.
	Key() string
	// Cells are the row's values in Columns order: string, int, float64,
	// bool, time.Time, or nil for a blank cell.
	Cells() []any
}

// Section is one part of the report and what reading it takes.
type Section struct {
	// Name is what REPORT_SECTIONS and the API call it.
	Name string
	// Title is how the report names it to people: its sheet's name, or a
	// phrase for a section without a sheet of its own.
	Title string
	// Sheet is the name of its worksheet; "" when its data lands on another
	// section's sheet (signin adds sign-in dates to Users).
	Sheet string
	// Order places it in the report.
	Order int
	// Permissions are the Graph application permissions it needs, all of
	// them.
	Permissions []string
	// Premium sections need Entra ID P1 or P2 in the tenant.
	Premium bool
	// Columns of its sheet, after the Tenant and Tenant ID columns every
	// section sheet starts with.
	Columns []Column
	// Decode reads one spooled row; nil for a section without a sheet.
	Decode func([]byte) (Row, error)
}

// HasSheet reports whether the section has a worksheet of its own.
func (s Section) HasSheet() bool { return s.Sheet != "" }

var (
	mu       sync.Mutex
	registry []Section
)

// Register adds s to the registry. It is called from the init functions of
// this package's section files; a duplicate name or order panics at start.
func Register(s Section) {
	mu.Lock()
	defer mu.Unlock()
	for _, r := range registry {
		if r.Name == s.Name || r.Order == s.Order {
			panic(fmt.Sprintf("section: %q registered twice (or its order %d is taken)", s.Name, s.Order))
		}
	}
	registry = append(registry, s)
	slices.SortFunc(registry, func(a, b Section) int { return cmp.Compare(a.Order, b.Order) })
}

// All returns every section in report order.
func All() []Section {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(registry)
}

// Names returns the name of every section in report order.
func Names() []string {
	var names []string
	for _, s := range All() {
		names = append(names, s.Name)
	}
	return names
}

// Lookup returns the section called name.
func Lookup(name string) (Section, bool) {
	for _, s := range All() {
		if s.Name == name {
			return s, true
		}
	}
	return Section{}, false
}

// decode is the Decode of a section whose rows are T, with *T a Row.
func decode[T any, P interface {
	*T
	Row
}](b []byte) (Row, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return P(&v), nil
}

// when is t, or nil (a blank cell) for the zero time.
func when(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// optional is *b, or nil (a blank cell) when Graph did not say.
func optional(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}
