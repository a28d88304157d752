package reportstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// store is what the contract suite exercises; *Store and *Dir satisfy it.
type store interface {
	Upload(ctx context.Context, name string, r io.Reader) error
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	List(ctx context.Context, prefix string) ([]Item, error)
	Stat(ctx context.Context, name string) (Item, error)
}

var (
	_ store = (*Store)(nil)
	_ store = (*Dir)(nil)
)

// testStore runs the contract every backend must meet. newStore returns an
// empty store for one subtest.
func testStore(t *testing.T, newStore func(t *testing.T) store) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		data := randomBytes(9<<20 + 12345) // more than two 4 MiB blocks
		const name = "reports/2024/03/05/run-1.xlsx"
		before := time.Now().Add(-time.Minute)
		mustUpload(t, s, name, bytes.NewReader(data))
		if got := read(t, s, name); !bytes.Equal(got, data) {
			t.Fatalf("Open(%q) read %d bytes, not the %d uploaded", name, len(got), len(data))
		}
		items := mustList(t, s, "")
		if len(items) != 1 || items[0].Name != name || items[0].Size != int64(len(data)) {
			t.Fatalf("List(\"\") = %+v, want one item %q of %d bytes", items, name, len(data))
		}
		if lm := items[0].LastModified; lm.Before(before) || lm.After(time.Now().Add(time.Minute)) {
			t.Errorf("LastModified = %v, want about now", lm)
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustUpload(t, s, "runs/r.json", bytes.NewReader([]byte(`{"v":1}`)))
		mustUpload(t, s, "runs/r.json", bytes.NewReader([]byte(`{"v":2}`)))
		if got := read(t, s, "runs/r.json"); string(got) != `{"v":2}` {
			t.Errorf("after overwrite, Open = %q, want the second upload", got)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustUpload(t, s, "empty.json", bytes.NewReader(nil))
		if got := read(t, s, "empty.json"); len(got) != 0 {
			t.Errorf("Open(empty.json) = %q, want empty", got)
		}
	})

	t.Run("ListPrefix", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, name := range []string{"b/1.json", "a/2.json", "ab.json", "a/1.json", "a/sub/3.json", "a-b.json"} {
			mustUpload(t, s, name, bytes.NewReader([]byte(name)))
		}
		tests := []struct {
			prefix string
			want   []string
		}{
			{"", []string{"a-b.json", "a/1.json", "a/2.json", "a/sub/3.json", "ab.json", "b/1.json"}},
			{"a/", []string{"a/1.json", "a/2.json", "a/sub/3.json"}},
			{"a", []string{"a-b.json", "a/1.json", "a/2.json", "a/sub/3.json", "ab.json"}},
			{"a/sub/", []string{"a/sub/3.json"}},
			{"a/1", []string{"a/1.json"}},
			{"a/1.json", []string{"a/1.json"}},
			{"a/1.json/", nil},
			{"c/", nil},
			{"c/d/e", nil},
		}
		for _, tt := range tests {
			items := mustList(t, s, tt.prefix)
			var got []string
			for _, it := range items {
				got = append(got, it.Name)
				if it.Size != int64(len(it.Name)) {
					t.Errorf("List(%q): %s has size %d, want %d", tt.prefix, it.Name, it.Size, len(it.Name))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%q) = %q, want %q", tt.prefix, got, tt.want)
			}
		}
	})

	t.Run("Stat", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const name = "runs/r.json"
		mustUpload(t, s, name, bytes.NewReader([]byte(`{"v":1}`)))
		first := mustStat(t, s, name)
		if items := mustList(t, s, ""); len(items) != 1 || !sameItem(items[0], first) {
			t.Errorf("Stat(%q) = %+v, want the listed item %+v", name, first, items)
		}
		if first.Size != 7 || !validETag(first.ETag) {
			t.Errorf("Stat(%q) = %+v, want 7 bytes and a quoted ETag", name, first)
		}
		// A different size, so that a file system clock coarser than the
		// two uploads' interval cannot hide the change (see fileItem).
		mustUpload(t, s, name, bytes.NewReader([]byte(`{"v":10}`)))
		second := mustStat(t, s, name)
		if second.ETag == first.ETag || !validETag(second.ETag) {
			t.Errorf("after overwrite, ETag = %s, want a new quoted ETag (was %s)", second.ETag, first.ETag)
		}
		if items := mustList(t, s, ""); len(items) != 1 || !sameItem(items[0], second) {
			t.Errorf("after overwrite, Stat(%q) = %+v, want the listed item %+v", name, second, items)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustUpload(t, s, "a/1.json", bytes.NewReader([]byte("{}")))
		for _, name := range []string{"missing.xlsx", "a", "a/2.json", "a/1.json/x"} {
			rc, err := s.Open(t.Context(), name)
			if !errors.Is(err, ErrNotFound) {
				if rc != nil {
					rc.Close()
				}
				t.Errorf("Open(%q) = %v, want ErrNotFound", name, err)
			}
			if it, err := s.Stat(t.Context(), name); !errors.Is(err, ErrNotFound) {
				t.Errorf("Stat(%q) = %+v, %v; want ErrNotFound", name, it, err)
			}
		}
	})

	t.Run("InvalidName", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		names := []string{"../x", "/abs", "a/../../b", `a\b`, "", ".", "a/./b", "a//b", "a/", "..", "a/..", "x\x00y", "line\nbreak", string(bytes.Repeat([]byte("n"), 1025))}
		for _, name := range names {
			if err := s.Upload(t.Context(), name, bytes.NewReader([]byte("x"))); !errors.Is(err, ErrInvalidName) {
				t.Errorf("Upload(%q) = %v, want ErrInvalidName", name, err)
			}
			if rc, err := s.Open(t.Context(), name); !errors.Is(err, ErrInvalidName) {
				if rc != nil {
					rc.Close()
				}
				t.Errorf("Open(%q) = %v, want ErrInvalidName", name, err)
			}
			if _, err := s.Stat(t.Context(), name); !errors.Is(err, ErrInvalidName) {
				t.Errorf("Stat(%q) = %v, want ErrInvalidName", name, err)
			}
		}
		for _, prefix := range []string{"../", "/abs", `a\`, "a//", "a/../b"} {
			if _, err := s.List(t.Context(), prefix); !errors.Is(err, ErrInvalidName) {
				t.Errorf("List(%q) = %v, want ErrInvalidName", prefix, err)
			}
		}
		if items := mustList(t, s, ""); len(items) != 0 {
			t.Errorf("invalid uploads left %+v", items)
		}
	})

	t.Run("NotVisibleUntilComplete", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const name = "reports/2024/03/05/partial.xlsx"
		data := randomBytes(6 << 20)
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- s.Upload(t.Context(), name, pr) }()
		// Write returns once Upload has read these bytes: more than a
		// block, so a backend that stages blocks has staged one.
		if _, err := pw.Write(data[:5<<20]); err != nil {
			t.Fatal(err)
		}
		assertAbsent(t, s, name)
		if _, err := pw.Write(data[5<<20:]); err != nil {
			t.Fatal(err)
		}
		assertAbsent(t, s, name)
		pw.Close()
		if err := <-done; err != nil {
			t.Fatalf("Upload: %v", err)
		}
		if got := read(t, s, name); !bytes.Equal(got, data) {
			t.Errorf("Open(%q) after completion read %d bytes, want the %d written", name, len(got), len(data))
		}
	})

	t.Run("FailedUploadLeavesNothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		errBoom := errors.New("boom")
		r := io.MultiReader(bytes.NewReader(randomBytes(5<<20)), errReader{errBoom})
		if err := s.Upload(t.Context(), "reports/failed.xlsx", r); !errors.Is(err, errBoom) {
			t.Fatalf("Upload(failing reader) = %v, want %v", err, errBoom)
		}
		assertAbsent(t, s, "reports/failed.xlsx")
		if items := mustList(t, s, ""); len(items) != 0 {
			t.Errorf("List after a failed upload = %+v, want nothing", items)
		}
	})

	t.Run("FailedUploadKeepsOld", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustUpload(t, s, "runs/r.json", bytes.NewReader([]byte("old")))
		errBoom := errors.New("boom")
		if err := s.Upload(t.Context(), "runs/r.json", io.MultiReader(bytes.NewReader([]byte("new")), errReader{errBoom})); !errors.Is(err, errBoom) {
			t.Fatalf("Upload(failing reader) = %v, want %v", err, errBoom)
		}
		if got := read(t, s, "runs/r.json"); string(got) != "old" {
			t.Errorf("after a failed overwrite, Open = %q, want the old content", got)
		}
	})

	t.Run("CanceledUpload", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- s.Upload(ctx, "reports/canceled.xlsx", pr) }()
		if _, err := pw.Write(randomBytes(1 << 20)); err != nil {
			t.Fatal(err)
		}
		cancel()
		// The upload may be blocked reading the pipe: closing it with the
		// cause is how a producer unblocks it, as the package example does.
		pw.CloseWithError(context.Canceled)
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Upload(canceled) = %v, want context.Canceled", err)
		}
		assertAbsent(t, s, "reports/canceled.xlsx")
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				name := fmt.Sprintf("runs/%d.json", i)
				if err := s.Upload(t.Context(), name, bytes.NewReader([]byte(name))); err != nil {
					t.Errorf("Upload(%q): %v", name, err)
				}
			})
		}
		wg.Wait()
		if items := mustList(t, s, "runs/"); len(items) != 8 {
			t.Errorf("List(runs/) = %d items, want 8", len(items))
		}
	})
}

// errReader fails every read.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(b)
	return b
}

func mustUpload(t *testing.T, s store, name string, r io.Reader) {
	t.Helper()
	if err := s.Upload(t.Context(), name, r); err != nil {
		t.Fatalf("Upload(%q): %v", name, err)
	}
}

func mustList(t *testing.T, s store, prefix string) []Item {
	t.Helper()
	items, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return items
}

func mustStat(t *testing.T, s store, name string) Item {
	t.Helper()
	it, err := s.Stat(t.Context(), name)
	if err != nil {
		t.Fatalf("Stat(%q): %v", name, err)
	}
	if it.Name != name {
		t.Errorf("Stat(%q).Name = %q", name, it.Name)
	}
	return it
}

// sameItem reports whether a and b describe the same object version.
func sameItem(a, b Item) bool {
	return a.Name == b.Name && a.Size == b.Size && a.LastModified.Equal(b.LastModified) && a.ETag == b.ETag
}

// validETag reports whether etag is a strong HTTP entity tag: quoted once.
func validETag(etag string) bool {
	return len(etag) > 2 && strings.HasPrefix(etag, `"`) && strings.HasSuffix(etag, `"`) &&
		!strings.Contains(etag[1:len(etag)-1], `"`)
}

func read(t *testing.T, s store, name string) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	return b
}

// assertAbsent checks that name is neither listed nor openable.
func assertAbsent(t *testing.T, s store, name string) {
	t.Helper()
	if items := mustList(t, s, ""); len(items) != 0 {
		t.Errorf("List(\"\") = %+v while %q is incomplete, want nothing", items, name)
	}
	rc, err := s.Open(t.Context(), name)
	if !errors.Is(err, ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Open(%q) = %v while incomplete, want ErrNotFound", name, err)
	}
	if it, err := s.Stat(t.Context(), name); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat(%q) = %+v, %v while incomplete; want ErrNotFound", name, it, err)
	}
}
