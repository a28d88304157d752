package customhandler

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
)

// FuzzListQuery sends GET /api/reports?<query> for any query, over a store
// of three runs. Plain go test runs it over its seeds (the f.Add calls and
// testdata/fuzz/FuzzListQuery/); to search for new inputs:
//
//	go test -run '^$' -fuzz '^FuzzListQuery$' -fuzztime 60s -fuzzminimizetime 100x ./internal/customhandler/
//
// Property: the answer is 200 or 400, never a 500 or a panic. A 400 is the
// API's JSON error with a message of at most maxMessage bytes, and touched
// no storage. A 200 is a page of at most top runs (50 when top is not
// given), newest first and after the continuation; its continuation, if
// any, names a run of the page; and only run records and the "runs/" prefix
// reached the store.
func FuzzListQuery(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	ids := []string{"20261201T060000Z-0a0a0a", "20261201T060001Z-0b0b0b", "20261201T060002Z-0c0c0c"}
	f.Add("")
	f.Add("top=2")
	f.Add("top=1&continuation=" + enc([]byte(ids[2])))
	f.Add("continuation=" + enc([]byte(ids[0])))

	dir, err := reportstore.NewDir(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	for i, id := range ids {
		rec := run.QueuedRecord(run.Request{RunID: id, Trigger: "http", Requested: time.Date(2026, 12, 1, 6, 0, i, 0, time.UTC)})
		if err := dir.Upload(context.Background(), run.RecordName(id), run.EncodeRecord(rec)); err != nil {
			f.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)

	f.Fuzz(func(t *testing.T, query string) {
		target := "/api/reports?" + query
		if strings.ContainsAny(target, " \r\n") {
			return // not a request line
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: tenantreport.example\r\n\r\n")))
		if err != nil {
			return // the server would answer 400 before any handler
		}
		s := &recordingStore{s: dir}
		h := New(Config{Runner: &run.Runner{Store: dir, Logger: log}, Store: s, Queue: fuzzQueue(func(context.Context, []byte) error {
			t.Errorf("GET %s queued a message", target)
			return nil
		}), Logger: log})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(t.Context()))

		what := "GET " + target
		names := s.seen()
		switch rec.Code {
		case http.StatusBadRequest:
			checkAPIError(t, what, rec)
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &e)
			if len(e.Error.Message) > maxMessage {
				t.Errorf("%s = a message of %d bytes, want at most %d", what, len(e.Error.Message), maxMessage)
			}
			if len(names) != 0 {
				t.Errorf("%s = 400 but asked storage for %q, want nothing", what, names)
			}
			return
		case http.StatusOK:
		default:
			t.Fatalf("%s = %d %s, want 200 or 400", what, rec.Code, rec.Body.Bytes())
		}
		for _, name := range names {
			if !recordNames.MatchString(name) {
				t.Errorf("%s asked storage for %q, want only run records and runs/", what, name)
			}
		}
		var page struct {
			Runs []struct {
				RunID string `json:"runId"`
			} `json:"runs"`
			Continuation string `json:"continuation"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatalf("%s = 200 %q, not a page: %v", what, rec.Body.Bytes(), err)
		}
		q := req.URL.Query()
		top := defaultTop
		if v := q.Get("top"); v != "" {
			top, _ = strconv.Atoi(v) // a 200 means it parsed
		}
		after := "99999999T999999Z-ffffff" // after nothing: every run
		if v := q.Get("continuation"); v != "" {
			b, _ := base64.RawURLEncoding.DecodeString(v)
			after = string(b)
		}
		if len(page.Runs) > top {
			t.Errorf("%s = %d runs, want at most %d", what, len(page.Runs), top)
		}
		for i, r := range page.Runs {
			if r.RunID >= after || (i > 0 && r.RunID >= page.Runs[i-1].RunID) {
				t.Errorf("%s = runs %+v, want them newest first and older than %s", what, page.Runs, after)
				break
			}
		}
		if page.Continuation != "" {
			b, err := base64.RawURLEncoding.DecodeString(page.Continuation)
			if err != nil || len(page.Runs) == 0 || string(b) != page.Runs[len(page.Runs)-1].RunID {
				t.Errorf("%s = continuation %q, want the last run of the page", what, page.Continuation)
			}
		}
	})
}
