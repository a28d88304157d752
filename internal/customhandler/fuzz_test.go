package customhandler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// The fuzz targets of the reports API's id and body parsing. Plain go test
// runs each over its seeds: the f.Add calls and the files in
// testdata/fuzz/<FuzzName>/. To search for new inputs, one target at a time:
//
//	go test -run '^$' -fuzz '^FuzzRunID$' -fuzztime 60s -fuzzminimizetime 100x ./internal/customhandler/
//	go test -run '^$' -fuzz '^FuzzCreateBody$' -fuzztime 60s -fuzzminimizetime 100x ./internal/customhandler/
//
// -fuzzminimizetime 100x caps how long a new input is shrunk: with the
// default (60s) the workers stop for up to a minute on each large new input,
// because every try snapshots the coverage of the whole binary, Azure SDKs
// included. A failing input is written to testdata/fuzz/<FuzzName>/; check
// it in with the fix, and it stays a seed.

// fuzzQueue adapts a function to Queue.
type fuzzQueue func(ctx context.Context, msg []byte) error

func (f fuzzQueue) Send(ctx context.Context, msg []byte) error { return f(ctx, msg) }

// recordNames are the only names a GET of a run may ask storage for: the
// record of a valid run id, and the record prefix that "latest" lists.
var recordNames = regexp.MustCompile(`^runs/([0-9]{8}T[0-9]{6}([0-9]{3})?Z-[0-9a-f]{6}\.json)?$`)

// fuzzRunID is the run whose queued record FuzzRunID's store holds, so that
// a valid id can be answered 200 (the record) and 409 (no workbook yet) as
// well as 404.
const fuzzRunID = "20261201T060000123Z-1a2b3c"

// checkAPIError fails t unless the reply is the API's JSON error.
func checkAPIError(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s: error reply Content-Type = %q, want application/json; charset=utf-8", what, ct)
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("%s: error reply %q is not {\"error\":{\"code\",\"message\"}}: %v", what, rec.Body.Bytes(), err)
	}
}

// FuzzRunID sends GET /api/reports/{id}, …/{id}/download and
// …/{id}/tenants/{tenant}/download for any id, and a tenant's download with
// the id as the tenant id, each escaped with url.PathEscape and verbatim.
// Each request-target is parsed as the server parses a request line; a raw
// id that cannot form one (a space, CR or LF, a bad escape) is skipped.
// Property: the answer is 200, 304, 400, 404 or 409, never a 500 or a
// panic; every error is the API's JSON error; a 400 touched no storage; and
// the only names that reach the store are valid record names and the
// "runs/" prefix.
func FuzzRunID(f *testing.F) {
	// The rest of the seeds, hostile ids among them, are in testdata/fuzz.
	f.Add(fuzzRunID)
	f.Add(latest)
	f.Add(strings.Repeat("2", 300))

	dir, err := reportstore.NewDir(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	requested := time.Date(2026, 12, 1, 6, 0, 0, 123e6, time.UTC)
	queued := run.QueuedRecord(run.Request{RunID: fuzzRunID, Trigger: "http", Requested: requested})
	if err := dir.Upload(context.Background(), run.RecordName(fuzzRunID), run.EncodeRecord(queued)); err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)

	f.Fuzz(func(t *testing.T, id string) {
		var targets []string
		for _, suffix := range []string{"", "/download", "/tenants/" + fuzzTenants[0].ID + "/download"} {
			targets = append(targets, "/api/reports/"+url.PathEscape(id)+suffix)
			if raw := "/api/reports/" + id + suffix; !strings.ContainsAny(raw, " \r\n") {
				targets = append(targets, raw)
			}
		}
		// The id as a tenant id: the only other part of a path that names a blob.
		targets = append(targets, "/api/reports/"+fuzzRunID+"/tenants/"+url.PathEscape(id)+"/download")
		if raw := "/api/reports/" + fuzzRunID + "/tenants/" + id + "/download"; !strings.ContainsAny(raw, " \r\n") {
			targets = append(targets, raw)
		}
		for _, target := range targets {
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: tenantreport.example\r\n\r\n")))
			if err != nil {
				continue // the server would answer 400 before any handler
			}
			s := &recordingStore{s: dir}
			h := New(Config{
				Runner: &run.Runner{Store: dir, Logger: log},
				Store:  s,
				Queue: fuzzQueue(func(context.Context, []byte) error {
					t.Errorf("GET %s queued a message", target)
					return nil
				}),
				Logger: log,
			})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req.WithContext(t.Context()))

			what := "GET " + target
			switch rec.Code {
			case http.StatusOK, http.StatusNotModified:
			case http.StatusBadRequest, http.StatusNotFound, http.StatusConflict:
				checkAPIError(t, what, rec)
			default:
				t.Errorf("%s = %d %s, want 200, 304, 400, 404 or 409", what, rec.Code, rec.Body.Bytes())
			}
			if rec.Code == http.StatusOK && rec.Header().Get("Content-Type") != xlsxType && !json.Valid(rec.Body.Bytes()) {
				t.Errorf("%s = 200 %q, want JSON", what, rec.Body.Bytes())
			}
			names := s.seen()
			for _, name := range names {
				if !recordNames.MatchString(name) {
					t.Errorf("%s asked storage for %q, want only run records and runs/", what, name)
				}
			}
			if rec.Code == http.StatusBadRequest && len(names) != 0 {
				t.Errorf("%s = 400 but asked storage for %q, want nothing", what, names)
			}
		}
	})
}

// fuzzTenants are the configured tenants of FuzzCreateBody.
var fuzzTenants = []settings.Tenant{
	{ID: "0c4a9f3e-1111-4a2b-9c3d-5e6f7a8b9c01", DisplayName: "Contoso"},
	{ID: "7d2e5b1a-2222-4c3d-8e4f-6a7b8c9d0e02", DisplayName: "Fabrikam"},
}

// subset reports whether every element of s is in of, once.
func subset(s, of []string) bool {
	for i, v := range s {
		if !slices.Contains(of, v) || slices.Contains(s[:i], v) {
			return false
		}
	}
	return true
}

// FuzzCreateBody posts any body to /api/reports, with a real runner and a
// real store. Property: the answer is 202 or 400, never a 500 or a panic. A
// 400 is the API's JSON error, and nothing was queued or written. A 202
// wrote exactly the run's record, queued exactly one message, a run.Request
// naming a subset of the configured tenants and sections, and answered for a
// body that is empty or JSON.
func FuzzCreateBody(f *testing.F) {
	// The rest of the seeds are in testdata/fuzz; these are too big to read
	// there: an array of one tenant just under the body limit, 2001 unknown
	// tenants, and a body one byte over the limit.
	var big bytes.Buffer
	big.WriteString(`{"tenants":[`)
	for big.Len() < maxBodyBytes-100 {
		big.WriteString(`"` + fuzzTenants[0].ID + `",`)
	}
	big.WriteString(`"` + fuzzTenants[1].ID + `"]}`)
	f.Add(big.Bytes())
	f.Add([]byte(`{"tenants":[` + strings.Repeat(`"x",`, 2000) + `"x"]}`))
	f.Add([]byte(`{"sections":["users"]}` + strings.Repeat(" ", maxBodyBytes-21)))

	dir, err := reportstore.NewDir(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	tenantIDs := []string{fuzzTenants[0].ID, fuzzTenants[1].ID}
	sections := []string{"users"}
	runner := &run.Runner{Tenants: fuzzTenants, Sections: sections, Store: dir, Logger: log}

	f.Fuzz(func(t *testing.T, body []byte) {
		s := &recordingStore{s: dir}
		var (
			mu   sync.Mutex
			sent [][]byte
		)
		q := fuzzQueue(func(_ context.Context, msg []byte) error {
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, bytes.Clone(msg))
			return nil
		})
		h := New(Config{Runner: runner, Store: s, Queue: q, Logger: log})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/reports", bytes.NewReader(body)))

		what := fmt.Sprintf("POST /api/reports %.200q", body)
		names := s.seen()
		switch rec.Code {
		case http.StatusBadRequest:
			checkAPIError(t, what, rec)
			if len(sent) != 0 {
				t.Errorf("%s = 400 but queued %q", what, sent)
			}
			if len(names) != 0 {
				t.Errorf("%s = 400 but asked storage for %q, want nothing", what, names)
			}
			return
		case http.StatusAccepted:
		default:
			t.Fatalf("%s = %d %s, want 202 or 400", what, rec.Code, rec.Body.Bytes())
		}

		if len(bytes.Trim(body, " \t\r\n")) > 0 && !json.Valid(body) {
			t.Errorf("%s = 202, want 400 for a body that is neither empty nor JSON", what)
		}
		if len(sent) != 1 {
			t.Fatalf("%s = 202 and queued %d messages, want 1", what, len(sent))
		}
		var req run.Request
		dec := json.NewDecoder(bytes.NewReader(sent[0]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			t.Fatalf("%s queued %q, not a run.Request: %v", what, sent[0], err)
		}
		if !run.ValidRunID(req.RunID) || req.Trigger != "http" {
			t.Errorf("%s queued run %q trigger %q, want a valid run id and trigger http", what, req.RunID, req.Trigger)
		}
		if !subset(req.Tenants, tenantIDs) || !subset(req.Sections, sections) {
			t.Errorf("%s queued tenants %q sections %q, want distinct ones of %q and %q", what, req.Tenants, req.Sections, tenantIDs, sections)
		}
		if want := []string{run.RecordName(req.RunID)}; !slices.Equal(names, want) {
			t.Errorf("%s asked storage for %q, want %q", what, names, want)
		}
		if loc, want := rec.Header().Get("Location"), "/api/reports/"+req.RunID; loc != want {
			t.Errorf("%s Location = %q, want %q", what, loc, want)
		}
		stored, err := run.ReadRecord(t.Context(), dir, req.RunID)
		if err != nil {
			t.Fatalf("%s: the queued run's record: %v", what, err)
		}
		var replied run.Record
		if err := json.Unmarshal(rec.Body.Bytes(), &replied); err != nil {
			t.Fatalf("%s = 202 %q, not a record: %v", what, rec.Body.Bytes(), err)
		}
		for _, r := range []run.Record{stored, replied} {
			if r.RunID != req.RunID || r.State != run.StateQueued {
				t.Errorf("%s: record of run %q is %q, want run %q queued", what, r.RunID, r.State, req.RunID)
			}
		}
	})
}
