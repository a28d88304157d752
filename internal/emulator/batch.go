package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxBatch is the most requests one $batch may hold.
const maxBatch = 20

// serveBatch serves POST /v1.0/$batch: each request runs as if sent alone (authorization, throttling and metrics
// included, latency and faults not) and its response is embedded; inner 429s stay inner, nobody retries them.
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request, t *tenant) {
	if r.Method != http.MethodPost {
		s.writeGraphError(w, r, graphError{http.StatusMethodNotAllowed, "Request_BadRequest",
			"Specified HTTP method is not allowed for the request target."})
		return
	}
	var in struct {
		Requests []struct {
			ID      string            `json:"id"`
			Method  string            `json:"method"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		} `json:"requests"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.writeGraphError(w, r, graphError{http.StatusBadRequest, "BadRequest", "Invalid batch payload format: " + err.Error()})
		return
	}
	switch n := len(in.Requests); {
	case n == 0:
		s.writeGraphError(w, r, graphError{http.StatusBadRequest, "BadRequest", "Invalid batch payload format."})
		return
	case n > maxBatch:
		s.writeGraphError(w, r, graphError{http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("Number of requests in a batch exceeds the limit of %d.", maxBatch)})
		return
	}
	type response struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body,omitempty"`
	}
	out := struct {
		Responses []response `json:"responses"`
	}{}
	seen := map[string]bool{}
	for _, q := range in.Requests {
		if q.ID == "" || seen[q.ID] {
			s.writeGraphError(w, r, graphError{http.StatusBadRequest, "BadRequest", "Batch request ids must be unique and non-empty."})
			return
		}
		seen[q.ID] = true
		target := q.URL
		if u, err := url.Parse(q.URL); err == nil && u.IsAbs() {
			target = strings.TrimPrefix(u.RequestURI(), "/v1.0")
		}
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		method := strings.ToUpper(q.Method)
		if method == "" {
			method = http.MethodGet
		}
		inner, err := http.NewRequestWithContext(r.Context(), method, "/v1.0"+target, bytes.NewReader(q.Body))
		if err != nil {
			out.Responses = append(out.Responses, response{ID: q.ID, Status: http.StatusBadRequest,
				Headers: map[string]string{"Content-Type": "application/json"}})
			continue
		}
		inner.Host, inner.TLS, inner.RemoteAddr = r.Host, r.TLS, r.RemoteAddr
		for k, v := range q.Headers {
			inner.Header.Set(k, v)
		}
		inner.Header.Set("Authorization", r.Header.Get("Authorization"))
		rec := newBufferedResponse()
		s.serveGraphRequest(rec, inner, true)
		hs := map[string]string{}
		for k, v := range rec.header {
			if len(v) > 0 && !strings.EqualFold(k, "Cache-Control") {
				hs[http.CanonicalHeaderKey(k)] = v[0]
			}
		}
		body := rec.body.Bytes()
		if !json.Valid(body) {
			body, _ = json.Marshal(string(body))
		}
		out.Responses = append(out.Responses, response{ID: q.ID, Status: rec.status, Headers: hs, Body: body})
	}
	w.Header().Set("request-id", newGUID())
	writeJSON(w, http.StatusOK, out)
}

// bufferedResponse is an in-memory http.ResponseWriter.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedResponse() *bufferedResponse { return &bufferedResponse{header: http.Header{}} }

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// response returns b as the reply to req.
func (b *bufferedResponse) response(req *http.Request) *http.Response {
	b.WriteHeader(http.StatusOK)
	body := b.body.Bytes()
	return &http.Response{
		Status:        strconv.Itoa(b.status) + " " + http.StatusText(b.status),
		StatusCode:    b.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        b.header,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
