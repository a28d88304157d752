package runtest

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/tenantreport/tenantreport/internal/reportstore"
)

// Store is what a test reads back of a run's storage. *reportstore.Store
// and *reportstore.Dir satisfy it.
type Store interface {
	List(ctx context.Context, prefix string) ([]reportstore.Item, error)
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// Names lists the names stored under prefix ("reports/": the workbooks,
// "runs/": the run records), in name order.
func Names(tb testing.TB, s Store, prefix string) []string {
	tb.Helper()
	items, err := s.List(context.Background(), prefix)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, it := range items {
		names = append(names, it.Name)
	}
	return names
}

// Workbook opens the stored workbook name with excelize, failing the test
// when it does not open, and closes it when the test ends.
func Workbook(tb testing.TB, s Store, name string) *excelize.File {
	tb.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(Blob(tb, s, name)))
	if err != nil {
		tb.Fatalf("workbook %s does not open: %v", name, err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}
