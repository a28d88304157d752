package graphdata

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantreport/tenantreport/internal/pace"
)

// Transport is the layer every Graph request of a run passes through, below
// the SDK's middleware, so it sees each attempt as it goes over the wire.
// Shared by every tenant of a run, it paces requests to Graph's budgets
// across tenants (see [Pacing]) and retries what Graph asks to be retried.
// Each request is counted on the section it was sent for. It is safe for
// concurrent use; the zero value is not: use [NewTransport].
type Transport struct {
	base   http.RoundTripper
	pacing *Pacing
	sched  *pace.Scheduler
}

// Pacing is how a [Transport] schedules requests: each budget of Budgets is
// a token bucket, per tenant or across tenants, that a request waits for
// before it is sent, so that Graph has no reason to throttle it. Graph's
// answers correct the model: a 429's Retry-After (or x-ms-retry-after-ms)
// empties the budget it names until then; x-ms-resource-unit books what a
// request really cost; x-ms-throttle-limit-percentage lowers the tenant's
// directory budget to what Graph says is left. A 429 without Retry-After
// (Conditional Access sends none) backs off exponentially with jitter: an
// assumption, as Graph documents no wait for it.
//
// Requests that Graph failed with a 5xx, or whose connection was reset,
// are retried up to Retries times with exponential backoff and jitter
// (a 5xx's Retry-After, when given, instead); a throttled request up to
// ThrottleRetries times. No other 4xx is retried.
type Pacing struct {
	// Budgets are the budgets paced to (nil: [Budgets]).
	Budgets []Budget
	// TimeScale multiplies every window and backoff: 1 (or 0) is Graph's;
	// the emulator's worlds compress time.
	TimeScale float64
	// MaxInFlight caps the requests in flight across tenants (0: none);
	// MaxInFlightPerTenant those of one tenant.
	MaxInFlight, MaxInFlightPerTenant int
	// MaxRowsInFlight caps the items that the requests in flight may
	// return, predicted from each tenant's size: what bounds the memory
	// of responses being read (0: no cap).
	MaxRowsInFlight int
	// Retries and ThrottleRetries bound the retries of one request.
	Retries, ThrottleRetries int
}

// DefaultPacing is the pacing of a run: Graph's budgets; caps that keep a
// thousand tenants' responses in flight within tens of megabytes.
func DefaultPacing() *Pacing {
	return &Pacing{TimeScale: 1, MaxInFlight: 4096, MaxInFlightPerTenant: 16, MaxRowsInFlight: 50_000,
		Retries: 4, ThrottleRetries: 8}
}

// NewTransport returns a Transport sending requests through base
// (http.DefaultTransport when nil), paced by p. With p nil it paces and
// retries nothing: requests go out as they come, and the SDK's retry
// handler answers 429s (how the benchmark's baselines run).
func NewTransport(base http.RoundTripper, p *Pacing) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{base: base, pacing: p}
	if p != nil {
		t.sched = pace.New()
		if p.Budgets == nil {
			p.Budgets = Budgets
		}
		if p.TimeScale <= 0 {
			p.TimeScale = 1
		}
	}
	return t
}

// paced reports whether t paces and retries itself.
func (t *Transport) paced() bool { return t != nil && t.sched != nil }

// Stats counts Graph requests: every attempt, those Graph throttled, and
// the attempts that were retries.
type Stats struct {
	Requests  int
	Throttled int
	Retries   int
}

// counter counts the requests of one section. It is safe for concurrent
// use.
type counter struct {
	requests, throttled, retries atomic.Int64
}

func (c *counter) stats() Stats {
	return Stats{Requests: int(c.requests.Load()), Throttled: int(c.throttled.Load()), Retries: int(c.retries.Load())}
}

// job is the chain of requests of one section of one tenant, carried by
// the requests' context: whom they are paced for and counted on.
type job struct {
	tenant string
	// users is the tenant's predicted size (-1: unknown).
	users int
	// pages is the predicted length of the chain, for its priority.
	pages int
	count *counter
}

type jobKey struct{}

func withJob(ctx context.Context, j *job) context.Context { return context.WithValue(ctx, jobKey{}, j) }

func jobOf(ctx context.Context) *job {
	j, _ := ctx.Value(jobKey{}).(*job)
	if j == nil {
		j = &job{users: -1, pages: 1, count: new(counter)}
	}
	return j
}

// RoundTrip sends req, paced and retried as [Pacing] says when t paces.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	j := jobOf(req.Context())
	if !t.paced() {
		resp, err := t.base.RoundTrip(req)
		j.count.requests.Add(1)
		if err == nil && resp.StatusCode == http.StatusTooManyRequests {
			j.count.throttled.Add(1)
		}
		return resp, err
	}
	r := classify(req.URL)
	charges := t.charges(j, r)
	ctx := req.Context()
	var failures, throttles int
	for attempt := 0; ; attempt++ {
		release, err := t.sched.Acquire(ctx, t.priority(j, r), charges)
		if err != nil {
			return nil, err
		}
		if attempt > 0 {
			j.count.retries.Add(1)
			if req, err = rewound(req); err != nil {
				release()
				return nil, err
			}
		}
		resp, err := t.base.RoundTrip(req)
		j.count.requests.Add(1)
		var wait time.Duration
		switch {
		case err != nil:
			release()
			if ctx.Err() != nil || !retryable(err) || failures >= t.pacing.Retries {
				return nil, err
			}
			failures++
			wait = t.backoff(failures)
		case resp.StatusCode == http.StatusTooManyRequests:
			j.count.throttled.Add(1)
			wait, _ = retryAfter(resp.Header)
			if wait == 0 {
				wait = t.backoff(throttles + 1)
			}
			held := t.hold(charges, resp.Header.Get("x-ms-throttle-scope"), time.Now().Add(wait))
			if throttles >= t.pacing.ThrottleRetries {
				resp.Body = releasing(resp.Body, release)
				return resp, nil
			}
			throttles++
			discard(resp)
			release()
			if held {
				continue // Acquire waits out the hold
			}
			// Graph throttled a budget the pacing does not model (secure
			// scores across tenants, say): no bucket holds the request
			// back, so it waits here, or it would be sent again at once,
			// its retries spent in a burst that Graph refuses.
		case resp.StatusCode >= 500 && failures < t.pacing.Retries:
			failures++
			var given bool
			if wait, given = retryAfter(resp.Header); !given {
				wait = t.backoff(failures)
			}
			discard(resp)
			release()
		default:
			t.calibrate(charges, r, resp.Header)
			resp.Body = releasing(resp.Body, release)
			return resp, nil
		}
		if !sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
}

// charges are what request r of job j draws from the buckets.
func (t *Transport) charges(j *job, r request) []pace.Charge {
	size := sizeBand(j.users)
	scale := t.pacing.TimeScale
	var cs []pace.Charge
	for _, b := range t.pacing.Budgets {
		units := 1.0
		switch {
		case b.Family == familyDirectory && (r.family == familyDirectory || r.family == familySignIn || r.family == familyKeyCredentials):
			units = r.units
		case b.Family != r.family && b.Family != familyGlobal:
			continue
		}
		if b.Size != "" && b.Size != size {
			continue
		}
		key := b.Family + "/" + b.Size
		if b.PerTenant {
			key += "/" + j.tenant
		}
		l := pace.Limit{InFlight: float64(b.InFlight)}
		if b.Limit > 0 && b.Window > 0 {
			l.Rate, l.Burst = b.Limit/(b.Window.Seconds()*scale), b.Limit
		}
		cs = append(cs, pace.Charge{Key: key, Limit: l, Units: units})
	}
	rows := r.pageSize
	if j.users >= 0 {
		rows = min(rows, j.users+1)
	}
	for _, c := range []struct {
		key   string
		limit int
		units int
	}{
		{"inflight", t.pacing.MaxInFlight, 1},
		{"inflight/" + j.tenant, t.pacing.MaxInFlightPerTenant, 1},
		{"rows", t.pacing.MaxRowsInFlight, rows},
	} {
		if c.limit > 0 {
			cs = append(cs, pace.Charge{Key: c.key, Limit: pace.Limit{InFlight: float64(c.limit)}, Units: float64(c.units)})
		}
	}
	return cs
}

// priority orders requests waiting for the same budget: the one whose
// chain has the most time left to run at its family's pace goes first, as
// the tail of the longest chain decides when a run finishes.
func (t *Transport) priority(j *job, r request) float64 {
	var per time.Duration // the slowest pace of r's family
	for _, b := range t.pacing.Budgets {
		if b.Family == r.family && b.Limit > 0 {
			per = max(per, time.Duration(float64(b.Window)/b.Limit))
		}
	}
	left := max(j.pages-int(j.count.requests.Load()), 1)
	return float64(left) * max(per.Seconds(), 1e-3)
}

// hold empties, until the given time, the budgets a 429 concerned: those
// of its x-ms-throttle-scope ("Tenant_Application/…" or "Application/…"),
// or all the request's family budgets when Graph does not say. It reports
// whether it held any.
func (t *Transport) hold(charges []pace.Charge, scope string, until time.Time) (held bool) {
	perTenant := strings.HasPrefix(scope, "Tenant_Application")
	perApp := strings.HasPrefix(scope, "Application")
	for _, c := range charges {
		if c.Limit.Rate == 0 || strings.HasPrefix(c.Key, familyGlobal+"/") {
			continue
		}
		tenantKey := strings.Count(c.Key, "/") > 1
		if (perTenant && !tenantKey) || (perApp && tenantKey) {
			continue
		}
		t.sched.Hold(c, until)
		held = true
	}
	return held
}

// calibrate corrects the directory budgets from what Graph said of a
// request: its real cost, and the share of the tenant's budget used.
func (t *Transport) calibrate(charges []pace.Charge, r request, h http.Header) {
	ru, err := strconv.ParseFloat(h.Get("x-ms-resource-unit"), 64)
	extra := ru - r.units
	pct, perr := strconv.ParseFloat(h.Get("x-ms-throttle-limit-percentage"), 64)
	if (err != nil || extra == 0) && perr != nil {
		return
	}
	for _, c := range charges {
		if !strings.HasPrefix(c.Key, familyDirectory+"/") {
			continue
		}
		if err == nil && extra != 0 {
			t.sched.Charge(c, extra)
		}
		if perr == nil && strings.Count(c.Key, "/") > 1 {
			t.sched.Used(c, pct)
		}
	}
}

// backoff is the n-th wait (from 1) where Graph says nothing: 1 s, 2 s,
// 4 s … up to a minute, scaled, each between half and all of that.
func (t *Transport) backoff(n int) time.Duration {
	d := time.Duration(float64(time.Second) * math.Pow(2, float64(min(n-1, 6))) * t.pacing.TimeScale)
	d = min(d, time.Duration(float64(time.Minute)*t.pacing.TimeScale))
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// retryAfter reads Graph's wait: x-ms-retry-after-ms (exact, which a time
// scaled emulator needs below a second), else Retry-After in seconds.
func retryAfter(h http.Header) (time.Duration, bool) {
	if ms, err := strconv.ParseInt(h.Get("x-ms-retry-after-ms"), 10, 64); err == nil && ms >= 0 {
		return time.Duration(ms) * time.Millisecond, true
	}
	if s, err := strconv.ParseInt(h.Get("Retry-After"), 10, 64); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	return 0, false
}

// retryable reports whether a transport error is worth another attempt:
// a connection that broke, not a request that could never succeed.
func retryable(err error) bool {
	var ne interface{ Timeout() bool }
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
		(errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || isReset(err))
}

func isReset(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe") ||
		strings.Contains(s, "stream error") || strings.Contains(s, "server closed")
}

// rewound is req ready to be sent again.
func rewound(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("graphdata: request body cannot be sent again")
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = body
	return r, nil
}

func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// releasing calls release when body is read to its end or closed.
func releasing(body io.ReadCloser, release func()) io.ReadCloser {
	return &releaser{ReadCloser: body, release: sync.OnceFunc(release)}
}

type releaser struct {
	io.ReadCloser
	release func()
}

func (r *releaser) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil {
		r.release()
	}
	return n, err
}

func (r *releaser) Close() error {
	r.release()
	return r.ReadCloser.Close()
}
