package graphdata

import (
	"net/http"
	"sync/atomic"
)

// Transport is the layer every Graph request of a run passes through, below
// the SDK's retry middleware, so it sees each attempt as it goes over the
// wire: shared by every tenant of a run, it is where budgets across tenants
// belong. Each Collect counts its own requests above it (see [Result]), so
// concurrent runs that share a Transport do not mix their counts. It is
// safe for concurrent use; the zero value is not: use [NewTransport].
type Transport struct {
	base http.RoundTripper
}

// NewTransport returns a Transport sending requests through base
// (http.DefaultTransport when nil).
func NewTransport(base http.RoundTripper) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &Transport{base: base}
}

// RoundTrip sends req on its way.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req)
}

// Stats counts Graph requests: every attempt, and those Graph throttled.
type Stats struct {
	Requests  int
	Throttled int
}

// counter counts the requests of one collection, whatever else shares its
// Transport. It is safe for concurrent use.
type counter struct {
	requests, throttled atomic.Int64
}

func (c *counter) stats() Stats {
	return Stats{Requests: int(c.requests.Load()), Throttled: int(c.throttled.Load())}
}

// countingTransport counts each attempt that goes through it in c.
type countingTransport struct {
	next http.RoundTripper
	c    *counter
}

func (ct countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := ct.next.RoundTrip(req)
	ct.c.requests.Add(1)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		ct.c.throttled.Add(1)
	}
	return resp, err
}
