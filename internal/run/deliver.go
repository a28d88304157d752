package run

import (
	"cmp"
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

// ErrFinished is the outcome of Deliver that means "acknowledge the message,
// there is nothing to do": the run's record is finished.
var ErrFinished = errors.New("run: already finished")

// The lease on a running record is Azure's shortest, renewed every third of
// it. A process that dies holding it (SIGKILL, an instance recycled) frees
// the run within leaseDuration, so the message's next delivery (host.json's
// visibilityTimeout is 30 s) finds it free or waits at most that long; one
// failed renewal is survived, because the lease is still held when the next
// one is due.
const (
	leaseDuration = 15 * time.Second
	leaseRenewal  = leaseDuration / 3
	// leasePoll is how often a delivery that finds the record leased looks
	// again: a fraction of the lease, so it takes a lapsed lease soon after.
	leasePoll = leaseDuration / 10
)

// Deliver executes a request taken from the run queue, delivery attempt of
// maxAttempts. The queue delivers at least once, so Deliver makes one run id
// one report: a run whose record is finished returns [ErrFinished] without
// work. A record leased by another process is waited for, bounded by ctx,
// until it is finished ([ErrFinished]) or its lease lapses (its holder died:
// Deliver runs it). Acknowledging the message instead would lose the run
// whenever the holder had died, as its lease outlives it by up to
// leaseDuration and the host redelivers the message within that. Deliver
// holds the lease while the run executes. A failed attempt before the last
// leaves the record queued with the reason (the message will come again),
// and so does one cut short by ctx (its process is stopping); the last
// attempt leaves it failed.
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
		// message without one was queued by other means. Run it all the
		// same. A record leased meanwhile is another delivery's: wait for it.
		rec = QueuedRecord(req)
		if err := r.Store.Upload(ctx, name, EncodeRecord(rec)); err != nil && !errors.Is(err, reportstore.ErrLeased) {
			return rec, fmt.Errorf("run: record: %w", err)
		}
	case err != nil:
		return rec, err
	case rec.State.Finished():
		return rec, ErrFinished
	}

	lease, rec, err := r.acquire(ctx, req.RunID, rec, log)
	if err != nil {
		return rec, err
	}
	defer func() {
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
			log.WarnContext(ctx, "run record lease not released; it expires by itself", "error", err)
		}
	}()

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { keepLease(runCtx, log, lease, stop, cancel) })
	save := func(ctx context.Context, rec Record) error { return lease.Upload(ctx, EncodeRecord(rec)) }
	rec.Attempts = attempt
	rec, err = r.execute(runCtx, req, rec, save)
	close(stop)
	wg.Wait()
	if err != nil {
		// A lost lease cancels runCtx alone: say so. When ctx itself ended,
		// execute's error already names its cause.
		if cause := context.Cause(runCtx); cause != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		outcome := "failed"
		if cs := (*CutShortError)(nil); errors.As(err, &cs) {
			outcome = "did not finish" // stopped, not broken: the redelivery may well succeed
		}
		if attempt < maxAttempts {
			rec.State, rec.Reason, rec.Finished = StateQueued, fmt.Sprintf("attempt %d of %d %s, to be retried: %v", attempt, maxAttempts, outcome, err), time.Time{}
		} else {
			rec.State, rec.Reason = StateFailed, fmt.Sprintf("attempt %d of %d %s, the last: %v", attempt, maxAttempts, outcome, err)
		}
		if serr := r.saveLast(ctx, log, save, rec); serr != nil {
			log.ErrorContext(ctx, "run record not updated after a failed attempt", "error", serr)
		}
	}
	return rec, err
}

// acquire leases the record of run id, which rec (not finished) was read
// from. While another process holds it, acquire looks again every
// leasePoll: a record finished meanwhile returns [ErrFinished], a lease
// that lapsed is taken. It returns the lease with the record as read under
// it, or an error wrapping ctx's cause when ctx ends first.
func (r *Runner) acquire(ctx context.Context, runID string, rec Record, log *slog.Logger) (Lease, Record, error) {
	name := RecordName(runID)
	poll := cmp.Or(r.leasePoll, leasePoll)
	for waited := false; ; waited = true {
		lease, err := r.Records.Lease(ctx, name, leaseDuration)
		if err == nil {
			// Another delivery may have finished the run between the read
			// and the lease.
			if rec, err = ReadRecord(ctx, r.Records, runID); err != nil || rec.State.Finished() {
				if rerr := lease.Release(context.WithoutCancel(ctx)); rerr != nil {
					log.WarnContext(ctx, "run record lease not released; it expires by itself", "error", rerr)
				}
				return nil, rec, cmp.Or(err, ErrFinished)
			}
			if rec.State == StateRunning {
				log.WarnContext(ctx, "the run's previous delivery stopped without finishing (its process died); running it again",
					"previous_attempt", rec.Attempts, "tenants_done", rec.TenantsDone, "tenants_total", rec.TenantsTotal)
			}
			return lease, rec, nil
		}
		if !errors.Is(err, reportstore.ErrLeased) {
			return nil, rec, fmt.Errorf("run: lease %s: %w", name, err)
		}
		if !waited {
			log.InfoContext(ctx, "run record leased by another delivery: waiting until it finishes or its lease lapses",
				"lease", leaseDuration, "poll", poll)
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, rec, fmt.Errorf("run: waiting for the lease on %s: %w", name, context.Cause(ctx))
		case <-t.C:
		}
		if rec, err = ReadRecord(ctx, r.Records, runID); err != nil {
			return nil, rec, err
		}
		if rec.State.Finished() {
			return nil, rec, ErrFinished
		}
	}
}

// keepLease renews lease every leaseRenewal until stop is closed,
// cancelling the run if the lease is lost: another process may then run
// it, and two writers of one report are what the lease exists to prevent.
// A renewal that fails for another reason (storage briefly unreachable) is
// tried again at the next tick, as long as the lease is still held then;
// the lease runs from the last renewal that succeeded.
func keepLease(ctx context.Context, log *slog.Logger, lease Lease, stop <-chan struct{}, cancel context.CancelCauseFunc) {
	t := time.NewTicker(leaseRenewal)
	defer t.Stop()
	held := time.Now() // the lease runs leaseDuration from (at least) here
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		asked := time.Now()
		err := lease.Renew(ctx)
		switch {
		case err == nil:
			held = asked
		case ctx.Err() != nil:
			return // the run is ending anyway
		case errors.Is(err, reportstore.ErrLeased):
			cancel(fmt.Errorf("run: lease on the run record lost: %w", err))
			return
		case time.Since(held)+leaseRenewal >= leaseDuration:
			// The next try would come after the lease lapsed, when another
			// delivery may hold it.
			cancel(fmt.Errorf("run: lease on the run record lapsed: not renewed for %s: %w", time.Since(held).Round(time.Second), err))
			return
		default:
			log.WarnContext(ctx, "run record lease not renewed; trying again while it holds", "error", err,
				"held_for", leaseDuration-time.Since(held))
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
