package runtest

import (
	"context"
	"io"
	"testing"
)

// Blob returns the bytes stored as name, failing the test when it cannot
// be read.
func Blob(tb testing.TB, s Store, name string) []byte {
	tb.Helper()
	rc, err := s.Open(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("reading %s: %v", name, err)
	}
	return b
}
