package reportstore

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	testStore(t, func(t *testing.T) store {
		d, err := NewDir(filepath.Join(t.TempDir(), "reports"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { assertNoTempFiles(t, d.Root()) })
		return d
	})
}

// assertNoTempFiles fails if an upload left a temporary file behind.
func assertNoTempFiles(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(e.Name(), tempPrefix) {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func TestDirPartialFileHidden(t *testing.T) {
	root := t.TempDir()
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- d.Upload(t.Context(), "reports/x.xlsx", pr) }()
	if _, err := pw.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	// The bytes are on disk, under a temporary name only.
	entries, err := os.ReadDir(filepath.Join(root, "reports"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !isTemp(entries[0].Name()) {
		t.Fatalf("while uploading, reports/ holds %v, want one temporary file", entries)
	}
	tmp := "reports/" + entries[0].Name()
	if _, err := d.Open(t.Context(), tmp); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Open(%q) = %v, want ErrInvalidName", tmp, err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "reports", "x.xlsx")); err != nil || string(b) != "partial" {
		t.Errorf("final file = %q, %v; want %q", b, err, "partial")
	}
	assertNoTempFiles(t, root)
}

// TestDirSymlinkEscape checks that a symbolic link inside the directory
// cannot be used to read or write outside it.
func TestDirSymlinkEscape(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.json"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := d.Open(t.Context(), "link/secret.json"); err == nil {
		rc.Close()
		t.Error("Open(link/secret.json) succeeded through a symlink leading outside the store")
	}
	if err := d.Upload(t.Context(), "link/new.json", bytes.NewReader([]byte("x"))); err == nil {
		t.Error("Upload(link/new.json) succeeded through a symlink leading outside the store")
	}
	if _, err := os.Stat(filepath.Join(outside, "new.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was written outside the store: %v", err)
	}
	if items, err := d.List(t.Context(), ""); err != nil || len(items) != 0 {
		t.Errorf("List = %+v, %v; want nothing (symlinks are not listed)", items, err)
	}
}

func TestNewDirCreates(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		t.Errorf("NewDir(%q) did not create the directory: %v", root, err)
	}
	if d.Root() != root {
		t.Errorf("Root() = %q, want %q", d.Root(), root)
	}
}
