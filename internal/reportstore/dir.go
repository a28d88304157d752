package reportstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Dir is a local-directory store for the demo and command-line runs. It has
// the same methods and guarantees as [Store]. It is safe for concurrent use.
//
// Every operation goes through an [os.Root], so neither a name nor a symbolic
// link inside the directory can reach a file outside it.
type Dir struct {
	root string
}

// Temporary files are named ".reportstore-<random>.tmp" in the directory of
// the final name; List skips them and Dir rejects names that look like them.
const (
	tempPrefix = ".reportstore-"
	tempSuffix = ".tmp"
)

// NewDir returns the store kept in the directory root, creating it if
// needed.
func NewDir(root string) (*Dir, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("reportstore: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("reportstore: %w", err)
	}
	return &Dir{root: abs}, nil
}

// Root returns the absolute path of the directory.
func (d *Dir) Root() string { return d.root }

func isTemp(name string) bool {
	base := path.Base(name)
	return strings.HasPrefix(base, tempPrefix) && strings.HasSuffix(base, tempSuffix)
}

func (d *Dir) checkName(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if isTemp(name) {
		return fmt.Errorf("%w %q (reserved for temporary files)", ErrInvalidName, name)
	}
	return nil
}

// Upload copies r into a temporary file in the directory of name, flushes it
// to disk and renames it to name, replacing any file of that name. A partial
// file is never visible under name: if r fails or ctx ends first, Upload
// removes the temporary file and returns the error.
func (d *Dir) Upload(ctx context.Context, name string, r io.Reader) (err error) {
	if err := d.checkName(name); err != nil {
		return err
	}
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return fmt.Errorf("reportstore: upload %q: %w", name, err)
	}
	defer root.Close()
	dir := path.Dir(name)
	if err := root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
		return fmt.Errorf("reportstore: upload %q: %w", name, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // never fails
	tmp := filepath.FromSlash(path.Join(dir, tempPrefix+hex.EncodeToString(rnd[:])+tempSuffix))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("reportstore: upload %q: %w", name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			root.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("reportstore: upload %q: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("reportstore: upload %q: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("reportstore: upload %q: %w", name, err)
	}
	if err := root.Rename(tmp, filepath.FromSlash(name)); err != nil {
		return fmt.Errorf("reportstore: upload %q: %w", name, err)
	}
	return nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Open returns a reader of the file name. A missing file, or a directory, is
// reported as an error wrapping [ErrNotFound]. ctx is only checked before
// opening.
func (d *Dir) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := d.checkName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("reportstore: open %q: %w", name, err)
	}
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, fmt.Errorf("reportstore: open %q: %w", name, err)
	}
	defer root.Close() // files opened through root stay open
	f, err := root.Open(filepath.FromSlash(name))
	if isNotExist(err) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reportstore: open %q: %w", name, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reportstore: open %q: %w", name, err)
		}
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return f, nil
}

// Stat returns the Item of the file name. A missing file, a directory, or a
// path through a file is reported as an error wrapping [ErrNotFound]. ctx is
// only checked before looking.
func (d *Dir) Stat(ctx context.Context, name string) (Item, error) {
	if err := d.checkName(name); err != nil {
		return Item{}, err
	}
	if err := ctx.Err(); err != nil {
		return Item{}, fmt.Errorf("reportstore: stat %q: %w", name, err)
	}
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return Item{}, fmt.Errorf("reportstore: stat %q: %w", name, err)
	}
	defer root.Close()
	fi, err := root.Stat(filepath.FromSlash(name))
	if isNotExist(err) || err == nil && !fi.Mode().IsRegular() {
		return Item{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if err != nil {
		return Item{}, fmt.Errorf("reportstore: stat %q: %w", name, err)
	}
	return fileItem(name, fi), nil
}

// fileItem returns the Item of the file name. Its ETag, "<size>-<mtime>"
// in hexadecimal (modification time in nanoseconds since 1970), changes with
// every Upload, since Upload writes a new file, unless two uploads of the same
// size fall within one tick of the file system's clock.
func fileItem(name string, fi fs.FileInfo) Item {
	mt := fi.ModTime()
	return Item{
		Name:         name,
		Size:         fi.Size(),
		LastModified: mt.UTC(),
		ETag:         fmt.Sprintf(`"%x-%x"`, fi.Size(), mt.UnixNano()),
	}
}

// isNotExist reports whether err means there is no file: a missing element,
// or an element of the path that is a file rather than a directory.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// List returns the files whose names start with prefix, sorted by name.
func (d *Dir) List(ctx context.Context, prefix string) ([]Item, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, fmt.Errorf("reportstore: list %q: %w", prefix, err)
	}
	defer root.Close()
	// Walk only the deepest directory the prefix names.
	start := path.Dir(prefix + "x")
	var items []Item
	err = fs.WalkDir(root.FS(), start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == start && isNotExist(err) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(p, prefix) || isTemp(p) {
			return nil
		}
		fi, err := e.Info()
		if isNotExist(err) {
			return nil // removed while listing
		}
		if err != nil {
			return err
		}
		items = append(items, fileItem(p, fi))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reportstore: list %q: %w", prefix, err)
	}
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.Name, b.Name) })
	return items, nil
}
