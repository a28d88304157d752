package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/tenantreport/tenantreport/internal/reportstore"
)

// Backoff is how a run retries writing its last record when storage fails.
// Zero fields take the defaults: 1 s, doubling to 15 s, for 2 minutes.
type Backoff struct {
	// Delay is the wait before the first retry; each wait doubles, with
	// ±20% jitter, up to MaxDelay.
	Delay, MaxDelay time.Duration
	// For bounds the time from the first failure: no retry starts after it.
	For time.Duration
}

// Defaults of Backoff. Two minutes bridges what a storage account's brief
// outages last (a front end failing over, a network blip), on top of the
// blob client's own few retries of each request, and stays far inside the
// Functions timeout (30 minutes); a longer outage is the operator's to see,
// in the run's error.
const (
	defaultSaveDelay    = time.Second
	defaultSaveMaxDelay = 15 * time.Second
	defaultSaveFor      = 2 * time.Minute
)

// saveLast writes rec, the last record of a run or delivery attempt
// (finished, failed, or queued again with the reason), with save, retrying
// as r.RecordRetry says while storage fails. Without it the stored record
// would say "running" forever, beside a workbook no record names, or say
// nothing of why the run failed.
//
// The first try is made even when ctx has ended (the handler is stopping):
// the record is the one trace of what the run did. Retries are not, so a
// stopping handler is not held up for minutes. A lost lease is not retried:
// another delivery owns the record now.
func (r *Runner) saveLast(ctx context.Context, log *slog.Logger, save func(context.Context, Record) error, rec Record) error {
	b := r.RecordRetry
	delay, maxDelay := cmp.Or(b.Delay, defaultSaveDelay), cmp.Or(b.MaxDelay, defaultSaveMaxDelay)
	deadline := time.Now().Add(cmp.Or(b.For, defaultSaveFor))
	for try := 1; ; try++ {
		err := save(context.WithoutCancel(ctx), rec)
		if err == nil {
			if try > 1 {
				log.InfoContext(ctx, "run record written after retries", "state", rec.State, "tries", try)
			}
			return nil
		}
		wait := time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
		if errors.Is(err, reportstore.ErrLeased) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("%w (%d tries)", err, try)
		}
		log.WarnContext(ctx, "run record not written; retrying", "state", rec.State, "try", try, "retry_in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (%d tries; %w)", err, try, context.Cause(ctx))
		}
		delay = min(2*delay, maxDelay)
	}
}
