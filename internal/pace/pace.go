// Package pace schedules requests against rate budgets so that none is
// refused: each budget is a token bucket (a rate and a burst) and may cap
// the units in flight; a request draws from several buckets at once, and
// waits until every one of them can serve it.
//
// # Order
//
// Waiting requests are served by priority, highest first, then in arrival
// order. A bucket that cannot serve a waiting request is held for it:
// requests of lower priority do not take from that bucket until the one
// ahead has gone, so a large request is never starved by small ones and a
// long chain of work keeps its place. Requests of lower priority that need
// only other buckets go ahead.
//
// A request takes from all its buckets at the same instant. Taking from one
// bucket and waiting for another would let the first see the request later
// than it was counted, which can break its budget when it is saturated.
//
// # Calibration
//
// The buckets are a model of someone else's budget; the service's answers
// correct it: [Scheduler.Hold] empties a bucket until a time (a 429's
// Retry-After), [Scheduler.Charge] books units the model did not know of
// (the service said a request cost more), and [Scheduler.Used] lowers a
// bucket to what the service says is left.
package pace

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// Limit is one budget: Rate units per second with a bucket of Burst units,
// and at most InFlight units in flight (0: no cap). A Limit with neither a
// rate nor a cap lets everything through.
type Limit struct {
	Rate     float64
	Burst    float64
	InFlight float64
}

// Charge is what one request draws from one bucket: Units from the bucket
// named Key, whose budget is Limit. Buckets are created on first use; the
// Limit of a key must not change.
type Charge struct {
	Key   string
	Limit Limit
	Units float64
}

// A bucket keeps a margin in hand beyond a request's own units before
// serving it: what it refills in jitter, and at least minMargin of a unit.
// The service counts a request when it arrives, a little after it was
// granted here, and two requests granted in turn may arrive closer
// together than they were granted (or in the other order): the margin
// absorbs up to jitter of that (100 ms: a loaded machine's scheduling, more
// than a network's). A saturated bucket still serves at its full rate;
// only the first request of a busy spell waits the margin.
const (
	jitter    = 100 * time.Millisecond
	minMargin = 0.02
)

// margin is l's margin, never more than half its bucket.
func (l Limit) margin() float64 {
	return min(max(minMargin, l.Rate*jitter.Seconds()), l.Burst/2)
}

// Scheduler holds buckets and the requests waiting for them. It is safe
// for concurrent use; the zero value is not: use [New].
type Scheduler struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	waiting []*waiter // by priority, then arrival
	seq     uint64
	timer   *time.Timer
	wakeAt  time.Time
}

type bucket struct {
	limit     Limit
	tokens    float64
	last      time.Time
	inFlight  float64
	notBefore time.Time
	// granted counts the units served, for predictions.
	granted float64
}

type waiter struct {
	prio    float64
	seq     uint64
	charges []Charge
	ready   chan struct{}
}

// New returns an empty Scheduler.
func New() *Scheduler {
	return &Scheduler{buckets: map[string]*bucket{}}
}

// Acquire waits until every charge can be served, takes them, and returns
// the function that gives back their in-flight units (call it once the
// request's answer has been read). Higher prio goes first. A charge of
// more units than its bucket holds is served when the bucket is full. It
// returns ctx's error if ctx ends first, having taken nothing.
func (s *Scheduler) Acquire(ctx context.Context, prio float64, charges []Charge) (release func(), err error) {
	w := &waiter{prio: prio, charges: charges, ready: make(chan struct{})}
	s.mu.Lock()
	s.seq++
	w.seq = s.seq
	i, _ := slices.BinarySearchFunc(s.waiting, w, order)
	s.waiting = slices.Insert(s.waiting, i, w)
	s.dispatch(time.Now())
	s.mu.Unlock()

	select {
	case <-w.ready:
		return s.releaser(charges), nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		select {
		case <-w.ready: // granted while giving up: give it back
			s.give(charges)
		default:
			s.waiting = slices.DeleteFunc(s.waiting, func(x *waiter) bool { return x == w })
		}
		s.dispatch(time.Now())
		return nil, ctx.Err()
	}
}

func order(a, b *waiter) int {
	switch {
	case a.prio > b.prio:
		return -1
	case a.prio < b.prio:
		return 1
	}
	return int(a.seq) - int(b.seq)
}

func (s *Scheduler) releaser(charges []Charge) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.give(charges)
			s.dispatch(time.Now())
		})
	}
}

// give returns charges' in-flight units. s.mu is held.
func (s *Scheduler) give(charges []Charge) {
	for _, c := range charges {
		if b := s.buckets[c.Key]; b != nil && c.Limit.InFlight > 0 {
			b.inFlight = max(0, b.inFlight-inFlightUnits(c))
		}
	}
}

func inFlightUnits(c Charge) float64 { return min(c.Units, c.Limit.InFlight) }

// bucket returns the bucket of c, refilled to now. s.mu is held.
func (s *Scheduler) bucket(c Charge, now time.Time) *bucket {
	b := s.buckets[c.Key]
	if b == nil {
		b = &bucket{limit: c.Limit, tokens: c.Limit.Burst, last: now}
		s.buckets[c.Key] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.limit.Burst, b.tokens+b.limit.Rate*el.Seconds())
		b.last = now
	}
	return b
}

// wait is how long b needs before it can serve c: 0 when it can now, -1
// when only a release can make room.
func (b *bucket) wait(c Charge, now time.Time) time.Duration {
	var d time.Duration
	if now.Before(b.notBefore) {
		d = b.notBefore.Sub(now)
	}
	if b.limit.InFlight > 0 && b.inFlight > 0 && b.inFlight+inFlightUnits(c) > b.limit.InFlight {
		return -1
	}
	if b.limit.Rate > 0 {
		m := b.limit.margin()
		need := min(c.Units, b.limit.Burst-m) + m
		if b.tokens < need {
			d = max(d, time.Duration((need-b.tokens)/b.limit.Rate*float64(time.Second))+1)
		}
	}
	return d
}

// dispatch serves every waiting request that can go now, in order, and
// arms the timer for the earliest that will be able to. s.mu is held.
func (s *Scheduler) dispatch(now time.Time) {
	held := map[string]bool{}
	next := time.Duration(math.MaxInt64)
	kept := s.waiting[:0]
	for _, w := range s.waiting {
		ok := true
		for _, c := range w.charges {
			if held[c.Key] {
				ok = false
				continue
			}
			if d := s.bucket(c, now).wait(c, now); d != 0 {
				ok = false
				held[c.Key] = true
				if d > 0 {
					next = min(next, d)
				}
			}
		}
		if !ok {
			kept = append(kept, w)
			continue
		}
		for _, c := range w.charges {
			b := s.buckets[c.Key]
			if b.limit.Rate > 0 {
				b.tokens -= c.Units
			}
			if b.limit.InFlight > 0 {
				b.inFlight += inFlightUnits(c)
			}
			b.granted += c.Units
		}
		close(w.ready)
	}
	clear(s.waiting[len(kept):])
	s.waiting = kept
	if next == time.Duration(math.MaxInt64) {
		return
	}
	at := now.Add(next)
	if !s.wakeAt.IsZero() && !s.wakeAt.After(at) {
		return // the timer set for an earlier wait dispatches again
	}
	s.wakeAt = at
	if s.timer == nil {
		s.timer = time.AfterFunc(next, s.wake)
	} else {
		s.timer.Reset(next)
	}
}

func (s *Scheduler) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wakeAt = time.Time{}
	s.dispatch(time.Now())
}

// Hold empties the bucket of c until the given time, when it starts to
// refill: what a 429's Retry-After says of it.
func (s *Scheduler) Hold(c Charge, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	b := s.bucket(c, now)
	if until.After(b.notBefore) {
		b.notBefore = until
	}
	// Refilling from empty during the hold leaves the bucket, when it
	// opens, with what the hold was worth and no more.
	b.tokens = min(b.tokens, 0)
	s.dispatch(now)
}

// Charge books units more (or, negative, fewer) on the bucket of c than
// its request was charged: what the service said the request cost.
func (s *Scheduler) Charge(c Charge, units float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	b := s.bucket(c, now)
	if b.limit.Rate > 0 {
		b.tokens = min(b.limit.Burst, b.tokens-units)
	}
	b.granted += units
	s.dispatch(now)
}

// Used lowers the bucket of c to what is left when the service says a
// fraction of its budget is used (1 or more: all of it).
func (s *Scheduler) Used(c Charge, fraction float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	b := s.bucket(c, now)
	if left := b.limit.Burst * (1 - fraction); b.tokens > left {
		b.tokens = left
	}
}

// Served returns the units each bucket has served so far, by key.
func (s *Scheduler) Served() map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]float64, len(s.buckets))
	for k, b := range s.buckets {
		m[k] = b.granted
	}
	return m
}

// Granted returns the units the bucket named key has served so far.
func (s *Scheduler) Granted(key string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buckets[key]; b != nil {
		return b.granted
	}
	return 0
}
