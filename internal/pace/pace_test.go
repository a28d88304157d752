package pace_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tenantreport/tenantreport/internal/pace"
)

// conforms replays grant times against a token bucket of limit that
// starts full, and reports the first grant it would have refused.
func conforms(t *testing.T, limit pace.Limit, grants []time.Time) {
	t.Helper()
	tokens, last := limit.Burst, grants[0]
	for i, g := range grants {
		tokens = min(limit.Burst, tokens+limit.Rate*g.Sub(last).Seconds())
		last = g
		if tokens < 1-1e-9 {
			t.Fatalf("grant %d at %v: the bucket held %.3f units", i, g.Sub(grants[0]), tokens)
		}
		tokens--
	}
}

// TestBurstIsPacedToTheBudget sends 100 requests at once at a budget of
// 10 per second with a burst of 5: the first 5 go at once, the rest at
// the budget's rate, and none would have been refused.
func TestBurstIsPacedToTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := pace.New()
		limit := pace.Limit{Rate: 10, Burst: 5}
		start := time.Now()
		var (
			mu     sync.Mutex
			grants []time.Time
			wg     sync.WaitGroup
		)
		for range 100 {
			wg.Go(func() {
				release, err := s.Acquire(t.Context(), 1, []pace.Charge{{Key: "b", Limit: limit, Units: 1}})
				if err != nil {
					t.Error(err)
					return
				}
				release()
				mu.Lock()
				grants = append(grants, time.Now())
				mu.Unlock()
			})
		}
		wg.Wait()
		conforms(t, limit, grants)
		// 95 requests beyond the burst at 10/s: 9.5 s, and the margin the
		// first of them waits for (100 ms of refill).
		if took := time.Since(start); took < 9500*time.Millisecond || took > 9700*time.Millisecond {
			t.Errorf("100 requests took %v, want 9.5 s", took)
		}
	})
}

// TestPriorityGoesFirst: while a budget is empty, the waiting request with
// the highest priority is served first whatever the order of arrival.
func TestPriorityGoesFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := pace.New()
		c := pace.Charge{Key: "b", Limit: pace.Limit{Rate: 1, Burst: 1}, Units: 1}
		release, _ := s.Acquire(t.Context(), 0, []pace.Charge{c}) // empties the bucket
		release()
		var (
			mu    sync.Mutex
			order []float64
			wg    sync.WaitGroup
		)
		for _, prio := range []float64{1, 5, 3} {
			wg.Go(func() {
				release, err := s.Acquire(t.Context(), prio, []pace.Charge{c})
				if err != nil {
					t.Error(err)
					return
				}
				defer release()
				mu.Lock()
				order = append(order, prio)
				mu.Unlock()
			})
			synctest.Wait() // queued in this order
		}
		wg.Wait()
		if len(order) != 3 || order[0] != 5 || order[1] != 3 || order[2] != 1 {
			t.Errorf("served %v, want [5 3 1]", order)
		}
	})
}

// TestHeldBucketIsNotTakenByLowerPriority: a large request waiting for a
// bucket keeps it; a smaller one of lower priority does not slip in first,
// but one that needs another bucket goes ahead.
func TestHeldBucketIsNotTakenByLowerPriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := pace.New()
		big := pace.Charge{Key: "b", Limit: pace.Limit{Rate: 1, Burst: 10}, Units: 10}
		small := big
		small.Units = 1
		other := pace.Charge{Key: "o", Limit: pace.Limit{Rate: 1, Burst: 1}, Units: 1}
		r, _ := s.Acquire(t.Context(), 0, []pace.Charge{big})
		r()
		start := time.Now()
		var bigAt, smallAt, otherAt time.Time
		var wg sync.WaitGroup
		wg.Go(func() {
			r, _ := s.Acquire(t.Context(), 2, []pace.Charge{big})
			r()
			bigAt = time.Now()
		})
		synctest.Wait()
		wg.Go(func() {
			r, _ := s.Acquire(t.Context(), 1, []pace.Charge{small})
			r()
			smallAt = time.Now()
		})
		wg.Go(func() {
			r, _ := s.Acquire(t.Context(), 1, []pace.Charge{other})
			r()
			otherAt = time.Now()
		})
		wg.Wait()
		if !otherAt.Equal(start) {
			t.Errorf("a request for another bucket waited %v", otherAt.Sub(start))
		}
		if !bigAt.Before(smallAt) {
			t.Errorf("the small request went at %v, before the large one at %v", smallAt.Sub(start), bigAt.Sub(start))
		}
	})
}

// TestInFlightCap: no more than the cap is in flight, and a release lets
// the next one go at once.
func TestInFlightCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := pace.New()
		c := pace.Charge{Key: "f", Limit: pace.Limit{InFlight: 4}, Units: 1}
		var (
			mu        sync.Mutex
			now, peak int
			wg        sync.WaitGroup
		)
		for range 20 {
			wg.Go(func() {
				release, err := s.Acquire(t.Context(), 0, []pace.Charge{c})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				now++
				peak = max(peak, now)
				mu.Unlock()
				time.Sleep(time.Second)
				mu.Lock()
				now--
				mu.Unlock()
				release()
			})
		}
		start := time.Now()
		wg.Wait()
		if peak != 4 {
			t.Errorf("peak in flight %d, want 4", peak)
		}
		if took := time.Since(start); took != 5*time.Second {
			t.Errorf("20 requests of 1 s, 4 at a time, took %v, want 5 s", took)
		}
	})
}

// TestHoldWaitsExactly: after Hold, nothing goes before the time given,
// and the first request goes then.
func TestHoldWaitsExactly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := pace.New()
		c := pace.Charge{Key: "b", Limit: pace.Limit{Rate: 100, Burst: 100}, Units: 1}
		start := time.Now()
		s.Hold(c, start.Add(1500*time.Millisecond))
		r, err := s.Acquire(t.Context(), 0, []pace.Charge{c})
		if err != nil {
			t.Fatal(err)
		}
		r()
		// The bucket refills from empty during the hold: 150 units by then.
		if took := time.Since(start); took != 1500*time.Millisecond {
			t.Errorf("first request after a 1.5 s hold went after %v", took)
		}
	})
}

// TestCancelledWaitTakesNothing: a request whose context ends while it
// waits leaves the bucket as it was, and the next one is served in its
// place.
func TestCancelledWaitTakesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := pace.New()
		c := pace.Charge{Key: "b", Limit: pace.Limit{Rate: 1, Burst: 1}, Units: 1}
		r, _ := s.Acquire(t.Context(), 0, []pace.Charge{c})
		r()
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := s.Acquire(ctx, 9, []pace.Charge{c})
			errc <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; err != context.Canceled {
			t.Fatalf("Acquire = %v, want context.Canceled", err)
		}
		start := time.Now()
		r, _ = s.Acquire(t.Context(), 0, []pace.Charge{c})
		r()
		if took := time.Since(start); took > 1100*time.Millisecond {
			t.Errorf("the next request waited %v, want about 1 s (one unit at 1/s)", took)
		}
	})
}
