package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/tenantreport/tenantreport/internal/reportstore"
)

// Records holds the run records of on-demand runs: it reads them and leases
// one while its run executes. A *reportstore.Store, adapted to return
// [Lease], satisfies it.
type Records interface {
	Opener
	// Lease claims the object name for d, failing with an error wrapping
	// reportstore.ErrLeased when another holder has it.
	Lease(ctx context.Context, name string, d time.Duration) (Lease, error)
}

// Lease is a held claim on a run record; while it is held, the record is
// written only through it.
type Lease interface {
	Upload(ctx context.Context, r io.Reader) error
	Renew(ctx context.Context) error
	Release(ctx context.Context) error
}

// Outcomes of Deliver that mean "acknowledge the message, there is nothing
// to do".
var (
	ErrFinished = errors.New("run: already finished")
	ErrBusy     = errors.New("run: executing elsewhere")
)

// The lease on a running record: Azure's longest finite lease, renewed well
// before it ends. A process that dies holding it frees the run for the
// message's next delivery within a minute.
const (
	leaseDuration = 60 * time.Second
	leaseRenewal  = 20 * time.Second
)

// Deliver executes a request taken from the run queue, delivery attempt of
// maxAttempts. The queue delivers at least once, so Deliver makes one run id
// one report: a run whose record is finished returns [ErrFinished], and one
// whose record another process has leased returns [ErrBusy], both without
// work. Otherwise Deliver holds a lease on the record while the run
// executes. A failed attempt before the last leaves the record queued with
// the reason (the message will come again); the last leaves it failed.
func (r *Runner) Deliver(ctx context.Context, req Request, attempt, maxAttempts int) (Record, error) {
	if !ValidRunID(req.RunID) {
		return Record{}, fmt.Errorf("run: request: invalid run id %q", req.RunID)
	}
	if r.Records == nil {
		return Record{}, errors.New("run: no record store to lease runs in")
	}
	name := RecordName(req.RunID)
	log := r.Logger.With("run_id", req.RunID, "attempt", attempt)
	rec, err := ReadRecord(ctx, r.Records, req.RunID)
	switch {
	case errors.Is(err, reportstore.ErrNotFound):
		// Accepting a request writes its record before queueing it; a
		// message without one was queued by other means. Run it all the same.
		rec = QueuedRecord(req)
		if err := r.Store.Upload(ctx, name, EncodeRecord(rec)); errors.Is(err, reportstore.ErrLeased) {
			return rec, ErrBusy
		} else if err != nil {
			return rec, fmt.Errorf("run: record: %w", err)
		}
	case err != nil:
		return rec, err
	case rec.State.Finished():
		return rec, ErrFinished
	}

	lease, err := r.Records.Lease(ctx, name, leaseDuration)
	if errors.Is(err, reportstore.ErrLeased) {
		return rec, ErrBusy
	}
	if err != nil {
		return rec, fmt.Errorf("run: lease %s: %w", name, err)
	}
	defer func() {
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
			log.WarnContext(ctx, "run record lease not released; it expires by itself", "error", err)
		}
	}()
	// Another delivery may have finished the run between the read and the
	// lease.
	if rec, err = ReadRecord(ctx, r.Records, req.RunID); err != nil {
		return rec, err
	}
	if rec.State.Finished() {
		return rec, ErrFinished
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { keepLease(runCtx, lease, stop, cancel) })
	save := func(ctx context.Context, rec Record) error { return lease.Upload(ctx, EncodeRecord(rec)) }
	rec.Attempts = attempt
	rec, err = r.execute(runCtx, req, rec, save)
	close(stop)
	wg.Wait()
	if err != nil {
		if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		if attempt < maxAttempts {
			rec.State, rec.Reason, rec.Finished = StateQueued, fmt.Sprintf("attempt %d of %d failed, to be retried: %v", attempt, maxAttempts, err), time.Time{}
		} else {
			rec.State, rec.Reason = StateFailed, fmt.Sprintf("attempt %d of %d failed, the last: %v", attempt, maxAttempts, err)
		}
		if serr := save(context.WithoutCancel(ctx), rec); serr != nil {
			log.ErrorContext(ctx, "run record not updated after a failed attempt", "error", serr)
		}
	}
	return rec, err
}

// keepLease renews lease until stop is closed, cancelling the run if the
// lease is lost: another process may then run it, and two writers of one
// report are what the lease exists to prevent.
func keepLease(ctx context.Context, lease Lease, stop <-chan struct{}, cancel context.CancelCauseFunc) {
	t := time.NewTicker(leaseRenewal)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			if err := lease.Renew(ctx); err != nil {
				cancel(fmt.Errorf("run: lease on the run record lost: %w", err))
				return
			}
		}
	}
}

// recordWriter saves snapshots of a running record in the background, the
// newest replacing any not yet saved, so collection never waits on storage
// and the stored record is never older than the last saved snapshot.
type recordWriter struct {
	ch   chan Record
	done chan struct{}
}

func newRecordWriter(ctx context.Context, log *slog.Logger, save func(context.Context, Record) error) *recordWriter {
	w := &recordWriter{ch: make(chan Record, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for rec := range w.ch {
			if err := save(ctx, rec); err != nil {
				log.WarnContext(ctx, "run progress not recorded", "error", err)
			}
		}
	}()
	return w
}

// update queues rec for saving, dropping a snapshot still waiting. Calls
// must not be concurrent.
func (w *recordWriter) update(rec Record) {
	for {
		select {
		case w.ch <- rec:
			return
		default:
			select {
			case <-w.ch:
			default:
			}
		}
	}
}

// close saves the last snapshot and stops the writer.
func (w *recordWriter) close() {
	close(w.ch)
	<-w.done
}
