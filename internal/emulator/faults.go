package emulator

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Latency delays Graph responses. Fixed delays every response by the same amount; Median (with P99, default
// 4×Median) draws log-normal delays from the tenant's seeded generator instead. Delays are scaled by
// World.TimeScale.
type Latency struct {
	Fixed  Duration `json:"fixed,omitempty"`
	Median Duration `json:"median,omitempty"`
	P99    Duration `json:"p99,omitempty"`
}

// Faults injects failures into Graph responses, each request drawn from the tenant's seeded generator, so a world
// replays the same faults for the same request order.
type Faults struct {
	// ServerErrors is the fraction of requests answered 500, 502, 503 or 504 with Graph's error body.
	ServerErrors float64 `json:"serverErrors,omitempty"`
	// Resets is the fraction whose connection is dropped before any response (RST_STREAM on HTTP/2).
	Resets float64 `json:"resets,omitempty"`
	// Malformed is the fraction answered 200 with the body cut in half: invalid JSON.
	Malformed float64 `json:"malformed,omitempty"`
	// Slow is the fraction delayed by SlowBy (default 30s, scaled) on top of any latency.
	Slow   float64  `json:"slow,omitempty"`
	SlowBy Duration `json:"slowBy,omitempty"`
	// Outage answers every Graph request for the tenant 503 serviceNotAvailable.
	Outage bool `json:"outage,omitempty"`
	// OutageFor does the same for this long (scaled) from the tenant's first Graph request, then recovers: an
	// outage that passes while a run retries.
	OutageFor Duration `json:"outageFor,omitempty"`
}

func (l *Latency) validate(field string) error {
	if l == nil {
		return nil
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"fixed", l.Fixed}, {"median", l.Median}, {"p99", l.P99}} {
		if d.v < 0 {
			return &FieldError{Field: field + "." + d.name, Value: time.Duration(d.v).String(), Err: ErrOutOfRange}
		}
	}
	if l.P99 != 0 && l.P99 < l.Median {
		return &FieldError{Field: field + ".p99", Value: time.Duration(l.P99).String(), Err: fmt.Errorf("%w: below the median", ErrOutOfRange)}
	}
	return nil
}

func (f *Faults) validate(field string) error {
	if f == nil {
		return nil
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"serverErrors", f.ServerErrors}, {"resets", f.Resets}, {"malformed", f.Malformed}, {"slow", f.Slow}} {
		if !(r.v >= 0 && r.v <= 1) {
			return &FieldError{Field: field + "." + r.name, Value: fmt.Sprint(r.v), Err: ErrOutOfRange}
		}
	}
	if f.ServerErrors+f.Resets+f.Malformed > 1 {
		return &FieldError{Field: field, Value: fmt.Sprint(f.ServerErrors + f.Resets + f.Malformed),
			Err: fmt.Errorf("%w: serverErrors + resets + malformed exceed 1", ErrOutOfRange)}
	}
	if f.OutageFor < 0 {
		return &FieldError{Field: field + ".outageFor", Value: time.Duration(f.OutageFor).String(), Err: ErrOutOfRange}
	}
	if f.SlowBy < 0 {
		return &FieldError{Field: field + ".slowBy", Value: time.Duration(f.SlowBy).String(), Err: ErrOutOfRange}
	}
	return nil
}

// fault is what the fault draw decided for one request.
type fault int

const (
	faultNone fault = iota
	faultServerError
	faultReset
	faultMalformed
	faultOutage
)

// chaos draws latencies and faults for one tenant from its own generator.
type chaos struct {
	latency *Latency
	faults  *Faults
	scale   float64
	mu      sync.Mutex
	rng     *rand.Rand
	began   time.Time // the tenant's first Graph request, for OutageFor
}

func newChaos(w *World, t *tenant) *chaos {
	c := &chaos{latency: t.Latency, faults: t.Faults, scale: w.scale(), rng: rand.New(rand.NewPCG(t.seed, 0x6661756c7473))} // "faults"
	if c.latency == nil {
		c.latency = w.Latency
	}
	if c.faults == nil {
		c.faults = w.Faults
	}
	return c
}

// draw returns the delay (unscaled) and the fault for the next request.
func (c *chaos) draw() (time.Duration, fault, int) {
	if c == nil || (c.latency == nil && c.faults == nil) {
		return 0, faultNone, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var d time.Duration
	if l := c.latency; l != nil {
		d = time.Duration(l.Fixed)
		if l.Median > 0 {
			p99 := l.P99
			if p99 == 0 {
				p99 = 4 * l.Median
			}
			sigma := math.Log(float64(p99)/float64(l.Median)) / 2.326
			d += time.Duration(float64(l.Median) * math.Exp(sigma*c.rng.NormFloat64()))
		}
	}
	f := c.faults
	if f == nil {
		return d, faultNone, 0
	}
	// Real time (virtual under synctest), not the server's clock, which a
	// world may freeze.
	now := time.Now()
	if c.began.IsZero() {
		c.began = now
	}
	if f.Outage || now.Sub(c.began) < time.Duration(float64(f.OutageFor)*c.scale) {
		return d, faultOutage, http.StatusServiceUnavailable
	}
	if f.Slow > 0 && c.rng.Float64() < f.Slow {
		by := time.Duration(f.SlowBy)
		if by == 0 {
			by = 30 * time.Second
		}
		d += by
	}
	u := c.rng.Float64()
	switch {
	case u < f.ServerErrors:
		return d, faultServerError, []int{500, 502, 503, 504}[c.rng.IntN(4)]
	case u < f.ServerErrors+f.Resets:
		return d, faultReset, 0
	case u < f.ServerErrors+f.Resets+f.Malformed:
		return d, faultMalformed, 0
	}
	return d, faultNone, 0
}

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// writeServerError writes a 5xx as Graph does.
func (s *Server) writeServerError(w http.ResponseWriter, r *http.Request, status int) {
	code, msg := "generalException", "General exception while processing."
	switch status {
	case http.StatusBadGateway:
		code, msg = "BadGateway", "The service encountered an error from an upstream dependency."
	case http.StatusServiceUnavailable:
		code, msg = "serviceNotAvailable", "The service is temporarily unavailable. Please retry later."
		// As on a 429, with the exact scaled wait: in whole seconds alone,
		// every 503 of a world at scale 0.01 cost a full second, ten times
		// the world's wait.
		s.setRetryAfter(w.Header(), s.scaled(10*time.Second))
	case http.StatusGatewayTimeout:
		code, msg = "UnknownError", "The request timed out at the gateway."
	}
	s.writeGraphError(w, r, graphError{status, code, msg})
}
