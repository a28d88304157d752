package reportstore

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
)

// Azure's limits on a lease's duration; -1 asks for an infinite lease.
const (
	minLease      = 15 * time.Second
	maxLease      = 60 * time.Second
	infiniteLease = -1
)

// Lease is a lease on one blob of a [Store], acquired with [Store.Lease].
// While it lasts, only its holder can replace the blob's content. It is safe
// for concurrent use.
type Lease struct {
	s    *Store
	name string
	c    *lease.BlobClient
	id   string
}

// Lease acquires a lease on the existing blob name for d, which Azure allows
// to be 15 to 60 whole seconds, or -1 for a lease that lasts until released.
// The holder keeps a timed lease by calling [Lease.Renew] before it expires.
// A missing blob or container is reported as an error wrapping
// [ErrNotFound], and a blob that someone else holds a lease on as one
// wrapping [ErrLeased].
func (s *Store) Lease(ctx context.Context, name string, d time.Duration) (*Lease, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if d != infiniteLease && (d < minLease || d > maxLease || d%time.Second != 0) {
		return nil, fmt.Errorf("reportstore: lease %q: duration %v: want 15s to 60s in whole seconds, or -1 for infinite", name, d)
	}
	// A nil LeaseID makes the client propose a new random one.
	c, err := lease.NewBlobClient(s.c.NewBlobClient(name), nil)
	if err != nil {
		return nil, fmt.Errorf("reportstore: lease %q: %w", name, err)
	}
	secs := int32(-1)
	if d != infiniteLease {
		secs = int32(d / time.Second)
	}
	if _, err := c.AcquireLease(ctx, secs, nil); err != nil {
		return nil, s.blobError("lease", name, err, true)
	}
	return &Lease{s: s, name: name, c: c, id: *c.LeaseID()}, nil
}

// Name returns the name of the leased blob.
func (l *Lease) Name() string { return l.name }

// Upload replaces the leased blob's content with r, with the guarantees and
// content type of [Store.Upload], and keeps the lease. If the lease is no
// longer held (it expired, was broken or released, or someone else took
// the blob), the error wraps [ErrLeased] and the content is unchanged.
func (l *Lease) Upload(ctx context.Context, r io.Reader) error {
	return l.s.upload(ctx, l.name, r, &l.id)
}

// Renew restarts the lease's duration. Azure renews an expired lease too,
// as long as no one has leased or written the blob since. The error wraps
// [ErrLeased] when the lease is no longer held.
func (l *Lease) Renew(ctx context.Context) error {
	if _, err := l.c.RenewLease(ctx, nil); err != nil {
		return l.s.blobError("renew lease", l.name, err, false)
	}
	return nil
}

// Release ends the lease, so that others can write the blob or lease it.
// The error wraps [ErrLeased] when the lease is no longer held.
func (l *Lease) Release(ctx context.Context) error {
	if _, err := l.c.ReleaseLease(ctx, nil); err != nil {
		return l.s.blobError("release lease", l.name, err, false)
	}
	return nil
}
