package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tenantreport/tenantreport/internal/reportstore"
)

// renewals is a Lease whose nth renewal answers f(n); its other methods
// succeed. It states how renewals fail, which Azurite cannot be made to do
// on cue. keepLease renews from one goroutine.
type renewals struct {
	f func(n int) error
	n int
}

func (r *renewals) Upload(context.Context, io.Reader) error { return nil }
func (r *renewals) Release(context.Context) error           { return nil }
func (r *renewals) Renew(context.Context) error {
	r.n++
	return r.f(r.n)
}

// TestKeepLease: the run's lease is renewed every leaseRenewal; one
// renewal failing for want of storage is survived (the lease still holds
// when the next is due), two in a row end the run before the lease lapses,
// and a lease taken by someone else ends it at once. In virtual time.
func TestKeepLease(t *testing.T) {
	unreachable := errors.New("dial tcp: connection refused")
	taken := fmt.Errorf("%w: renew lease: LeaseIdMismatchWithLeaseOperation", reportstore.ErrLeased)
	for _, tc := range []struct {
		name  string
		renew func(n int) error
		// cancelled is when the run is cancelled (0: not within a minute),
		// and cause what its cause says.
		cancelled time.Duration
		cause     string
	}{
		{"healthy", func(int) error { return nil }, 0, ""},
		{"one failure", func(n int) error {
			if n == 2 {
				return unreachable
			}
			return nil
		}, 0, ""},
		{"failures apart", func(n int) error {
			if n%2 == 0 {
				return unreachable
			}
			return nil
		}, 0, ""},
		{"two failures in a row", func(n int) error {
			if n >= 3 {
				return unreachable
			}
			return nil
		}, 4 * leaseRenewal, "lapsed: not renewed for 10s: dial tcp"},
		{"taken", func(n int) error {
			if n == 2 {
				return taken
			}
			return nil
		}, 2 * leaseRenewal, "lost: " + taken.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancelCause(t.Context())
				defer cancel(nil)
				stop := make(chan struct{})
				start := time.Now()
				var cancelledAt time.Duration
				done := make(chan struct{})
				go func() {
					defer close(done)
					keepLease(ctx, slog.New(slog.DiscardHandler), &renewals{f: tc.renew}, stop, func(cause error) {
						cancelledAt = time.Since(start)
						cancel(cause)
					})
				}()
				select {
				case <-ctx.Done():
				case <-time.After(time.Minute):
				}
				close(stop)
				<-done
				if cancelledAt != tc.cancelled {
					t.Errorf("run cancelled after %s, want %s (0: not at all)", cancelledAt, tc.cancelled)
				}
				if cause := context.Cause(ctx); tc.cause != "" && (cause == nil || !strings.Contains(cause.Error(), tc.cause)) {
					t.Errorf("cause = %v, want it to say %q", cause, tc.cause)
				}
				if cancelledAt > 0 && cancelledAt >= 2*leaseRenewal+leaseDuration {
					t.Errorf("cancelled at %s, after the lease of the last renewal lapsed", cancelledAt)
				}
			})
		})
	}
}
