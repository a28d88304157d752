package graphdata

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// Transport is the layer every Graph request of a run passes through, below
// the SDK's retry middleware, so it sees each attempt as it goes over the
// wire. It counts requests and throttled answers per tenant for the life of
// the process; a Collect counts its own (see [Result]), so concurrent runs
// that share a Transport do not mix their counts. It is safe for concurrent
// use; the zero value is not: use [NewTransport].
type Transport struct {
	base http.RoundTripper

	mu    sync.Mutex
	stats map[string]*Stats
}

// Stats counts the Graph requests of one tenant.
type Stats struct {
	Requests  int
	Throttled int
}

// NewTransport returns a Transport sending requests through base
// (http.DefaultTransport when nil).
func NewTransport(base http.RoundTripper) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &Transport{base: base, stats: make(map[string]*Stats)}
}

// ForTenant returns the round tripper of tenantID's Graph client.
func (t *Transport) ForTenant(tenantID string) http.RoundTripper {
	return tenantTransport{t: t, tenant: tenantID}
}

// Stats returns the counts of tenantID so far, across every Collect that
// used t.
func (t *Transport) Stats(tenantID string) Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.stats[tenantID]; s != nil {
		return *s
	}
	return Stats{}
}

type tenantTransport struct {
	t      *Transport
	tenant string
}

func (tt tenantTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tt.t.base.RoundTrip(req)
	tt.t.mu.Lock()
	s := tt.t.stats[tt.tenant]
	if s == nil {
		s = new(Stats)
		tt.t.stats[tt.tenant] = s
	}
	s.Requests++
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		s.Throttled++
	}
	tt.t.mu.Unlock()
	return resp, err
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
