// Package reportstore keeps finished reports: workbooks and run records.
//
// Two backends have the same methods: [Store], an Azure Blob Storage
// container (Azurite in tests and the demo), and [Dir], a local directory.
// Both stream uploads and make an object visible under its name only once
// it is complete, so a reader never sees half a workbook.
//
// # Names
//
// Names are slash-separated paths relative to the container or directory,
// such as "reports/2024/03/05/<runID>.xlsx" (the run package names them). A name must
// be clean: not empty, no leading "/", no "." or ".." or empty elements, no
// backslash, no control characters, at most 1024 bytes. Anything else is
// rejected with [ErrInvalidName] before any I/O, so a name taken from a URL
// cannot reach outside the container or directory.
//
// # Leases
//
// A [Store] can lease a blob ([Store.Lease]): while the lease lasts, only
// its holder can replace the content ([Lease.Upload]), and [Store.Upload]
// fails with [ErrLeased]. [Store.Stat] and [Dir.Stat] report an object's
// [Item], with an ETag for conditional requests.
//
// # Queue
//
// [Queue] sends run requests to an Azure Storage queue, base64-encoded as
// the Azure Functions queue trigger expects.
//
// # Example
//
//	s, err := reportstore.NewFromConnectionString(conn, "reports", nil)
//	if err != nil { … }
//	if err := s.EnsureContainer(ctx); err != nil { … }
//	pr, pw := io.Pipe()
//	go func() { pw.CloseWithError(workbook.Write(pw, sheets...)) }()
//	err = s.Upload(ctx, "reports/2024/03/05/"+runID+".xlsx", pr)
//	pr.CloseWithError(err) // unblocks the writer if Upload stopped early
package reportstore

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
)

// ErrNotFound is returned, wrapped, by Open, Stat and Store.Lease when no
// complete object has the name.
var ErrNotFound = errors.New("reportstore: not found")

// ErrInvalidName is returned, wrapped, for a name or list prefix that is not
// a clean relative path (see the package documentation).
var ErrInvalidName = errors.New("reportstore: invalid name")

// ErrLeased is returned, wrapped, when another holder has an active lease on
// the object, or when a [Lease] is no longer held.
var ErrLeased = errors.New("reportstore: leased")

// ErrUnreachable is returned, wrapped, by a [Store] whose service gave no
// answer, after the client's retries: it is down, or not where the settings
// say. The error names the endpoint (the account and container), never a
// key or signature.
var ErrUnreachable = errors.New("reportstore: storage unreachable")

// Item describes one stored object.
type Item struct {
	Name         string
	Size         int64
	LastModified time.Time
	// ETag is the entity tag as an HTTP ETag header value, double quotes
	// included, such as "0x8DC2F0B1C7E5A3D". It changes whenever the
	// content is replaced.
	ETag string
}

// maxNameLen is Azure Blob Storage's limit on a blob name.
const maxNameLen = 1024

// checkName returns an error wrapping ErrInvalidName unless name is a clean,
// relative, slash-separated path.
func checkName(name string) error {
	switch {
	case name == "", name == ".", !fs.ValidPath(name):
		// fs.ValidPath rejects a leading or trailing "/", empty, "." and
		// ".." elements, and invalid UTF-8.
	case len(name) > maxNameLen:
	case strings.ContainsRune(name, '\\'):
	case strings.ContainsFunc(name, isControl):
	default:
		return nil
	}
	return fmt.Errorf("%w %q", ErrInvalidName, name)
}

// checkPrefix returns an error wrapping ErrInvalidName unless prefix is ""
// or a valid name, optionally followed by one "/".
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkName(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("%w %q (list prefix)", ErrInvalidName, prefix)
	}
	return nil
}

// checkStorageName applies Azure's naming rules for containers and queues
// (kind): 3 to 63 lowercase letters, digits and single hyphens, starting and
// ending with a letter or digit.
func checkStorageName(kind, name string) error {
	ok := len(name) >= 3 && len(name) <= 63 && !strings.Contains(name, "--") &&
		name[0] != '-' && name[len(name)-1] != '-' &&
		!strings.ContainsFunc(name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') })
	if !ok {
		return fmt.Errorf("reportstore: invalid %s name %q", kind, name)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// contentType returns the MIME type stored with an object of this name.
func contentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".xlsx":
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}
