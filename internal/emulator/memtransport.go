package emulator

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"syscall"
)

// InMemoryURL is the base URL that [Server.Transport] serves.
const InMemoryURL = "https://emulator.invalid"

// Transport returns an [http.RoundTripper] that serves requests to [InMemoryURL] by calling ServeHTTP in the
// caller's goroutine, with no listener and no TLS, and refuses every other host. Inside a testing/synctest bubble
// it makes latency, Retry-After waits and throttling windows virtual. A reset fault surfaces as an error wrapping
// syscall.ECONNRESET.
func (s *Server) Transport() http.RoundTripper { return memTransport{s} }

type memTransport struct{ s *Server }

func (m memTransport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if req.URL.Scheme != "https" || req.URL.Host != "emulator.invalid" {
		return nil, fmt.Errorf("emulator: refusing request to %s://%s%s: this transport only reaches %s",
			req.URL.Scheme, req.URL.Host, req.URL.Path, InMemoryURL)
	}
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.Host = req.URL.Host
	in.RemoteAddr = "192.0.2.1:49152"
	in.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true, ServerName: req.URL.Hostname()}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := newBufferedResponse()
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			resp, err = nil, fmt.Errorf("emulator: connection reset by peer: %w", syscall.ECONNRESET)
		}
	}()
	m.s.ServeHTTP(rec, in)
	if err := req.Context().Err(); err != nil {
		return nil, err // the client gave up; a real server's reply would never arrive
	}
	return rec.response(req), nil
}
