package customhandler

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tenantreport/tenantreport/internal/run"
)

// countingRunner counts the runs it is asked for, and runs nothing.
type countingRunner struct{ runs atomic.Int32 }

func (c *countingRunner) NewRequest(trigger string, _, _ []string) (run.Request, error) {
	return run.Request{Trigger: trigger}, nil
}

func (c *countingRunner) Run(context.Context, run.Request) (run.Record, error) {
	c.runs.Add(1)
	return run.Record{}, nil
}

func (c *countingRunner) Deliver(context.Context, run.Request, int, int) (run.Record, error) {
	c.runs.Add(1)
	return run.Record{}, nil
}

// Valid parts of invocations, for the bad ones to differ from in one way.
const (
	goodTimer   = `{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}`
	goodRunID   = "20261201T060000Z-abcdef"
	goodMessage = `{"runId":"` + goodRunID + `","trigger":"http"}`
)

// badInvocation is one bad invocation body, and the parts of the message
// that say what is wrong.
type badInvocation struct {
	name string
	body string
	want []string
}

// badBodies are bodies that no function takes: their problem is the
// contract's shape, whatever the function. binding is the function's
// trigger binding.
func badBodies(binding, good string) []badInvocation {
	valid := `{"Data":{"` + binding + `":` + good + `},"Metadata":{}}`
	return []badInvocation{
		{"empty", "", []string{"not an invocation's JSON: there is no JSON"}},
		{"whitespace", " \r\n\t", []string{"there is no JSON"}},
		{"text", "hello", []string{"invalid character 'h'"}},
		{"form", "Data=x&Metadata=y", []string{"invalid character 'D'"}},
		{"xml", "<Data/>", []string{"invalid character '<'"}},
		{"byte order mark", "\ufeff" + valid, []string{"byte order mark (U+FEFF)"}},
		{"truncated", valid[:len(valid)/2], []string{"ends too early"}},
		{"truncated by one", valid[:len(valid)-1], []string{"ends too early"}},
		{"array", "[" + valid + "]", []string{"the body is a JSON array, want an object"}},
		{"string", jsonString(valid), []string{"the body is a JSON string, want an object"}},
		{"number", "200", []string{"the body is a JSON number"}},
		{"null", "null", []string{`Data has no "` + binding + `" binding`, "got Data with no keys"}},
		{"empty object", "{}", []string{`Data has no "` + binding + `" binding`, "no keys"}},
		{"Data missing", `{"Metadata":{}}`, []string{`Data has no "` + binding + `" binding`}},
		{"Data empty", `{"Data":{},"Metadata":{}}`, []string{`Data has no "` + binding + `" binding`}},
		{"Data array", `{"Data":[` + good + `],"Metadata":{}}`, []string{`"Data" is a JSON array, want an object`}},
		{"Data string", `{"Data":` + jsonString(`{"`+binding+`":`+good+`}`) + `,"Metadata":{}}`, []string{`"Data" is a JSON string, want an object`}},
		{"Data null", `{"Data":null,"Metadata":{}}`, []string{`Data has no "` + binding + `" binding`}},
		{"Metadata number", `{"Data":{"` + binding + `":` + good + `},"Metadata":5}`, []string{`"Metadata" is a JSON number, want an object`}},
		{"Metadata array", `{"Data":{"` + binding + `":` + good + `},"Metadata":[]}`, []string{`"Metadata" is a JSON array, want an object`}},
		{"binding misnamed", `{"Data":{"myTrigger":` + good + `},"Metadata":{}}`, []string{`Data has no "` + binding + `" binding`, `got Data with keys "myTrigger"`}},
		{"binding null", `{"Data":{"` + binding + `":null},"Metadata":{}}`, []string{"Data." + binding + " is null"}},
		{"binding null, encoded", `{"Data":{"` + binding + `":"null"},"Metadata":{}}`, []string{"Data." + binding + " is null"}},
		{"binding number", `{"Data":{"` + binding + `":5},"Metadata":{}}`, []string{"Data." + binding + ": decode 5: the value is a JSON number, want an object"}},
		{"binding list", `{"Data":{"` + binding + `":[]},"Metadata":{}}`, []string{"Data." + binding, "the value is a JSON array, want an object"}},
		{"binding text", `{"Data":{"` + binding + `":"hello"},"Metadata":{}}`, []string{"Data." + binding, "the value is a JSON string, want an object", "the string's text is not JSON: invalid character 'h'"}},
		{"binding encoded, truncated inside", `{"Data":{"` + binding + `":` + jsonString(good[:len(good)-3]) + `},"Metadata":{}}`, []string{"Data." + binding, "the string's text is not JSON: the JSON ends too early"}},
		{"binding encoded twice, truncated inside", `{"Data":{"` + binding + `":` + jsonString(jsonString(good[:len(good)-3])) + `},"Metadata":{}}`, []string{"Data." + binding, "the string's text is not JSON: the JSON ends too early"}},
		{"trailing text", valid + " x", []string{"data after its JSON object"}},
		{"trailing brace", valid + "}", []string{"data after its JSON object"}},
		{"trailing bracket", valid + "]", []string{"data after its JSON object"}},
		{"second object", valid + valid, []string{"data after its JSON object"}},
		{"DequeueCount word", `{"Data":{"` + binding + `":` + good + `},"Metadata":{"DequeueCount":"abc"}}`, []string{"Metadata.DequeueCount", "want a whole number", "the string's text is not JSON"}},
		{"DequeueCount fraction", `{"Data":{"` + binding + `":` + good + `},"Metadata":{"DequeueCount":"1.5"}}`, []string{"Metadata.DequeueCount", "JSON number 1.5, want a whole number"}},
		{"DequeueCount zero", `{"Data":{"` + binding + `":` + good + `},"Metadata":{"DequeueCount":"0"}}`, []string{"Metadata.DequeueCount", "want a whole number from 1"}},
		{"DequeueCount negative", `{"Data":{"` + binding + `":` + good + `},"Metadata":{"DequeueCount":-2}}`, []string{"Metadata.DequeueCount", "want a whole number from 1"}},
		{"DequeueCount overflow", `{"Data":{"` + binding + `":` + good + `},"Metadata":{"DequeueCount":"99999999999999999999"}}`, []string{"Metadata.DequeueCount", "want a whole number"}},
		{"DequeueCount object", `{"Data":{"` + binding + `":` + good + `},"Metadata":{"DequeueCount":{}}}`, []string{"Metadata.DequeueCount", "JSON object, want a whole number"}},
		{"Id number", `{"Data":{"` + binding + `":` + good + `},"Metadata":{"Id":5}}`, []string{"Metadata.Id", "JSON number, want a string"}},
		{"Id object", `{"Data":{"` + binding + `":` + good + `},"Metadata":{"Id":{}}}`, []string{"Metadata.Id", "JSON object, want a string"}},
	}
}

// badTimerBodies are timer bindings of the wrong shape.
func badTimerBodies() []badInvocation {
	inv := func(timer string) string { return `{"Data":{"timer":` + timer + `},"Metadata":{}}` }
	return []badInvocation{
		{"IsPastDue string", inv(`{"IsPastDue":"yes"}`), []string{"Data.timer", `"IsPastDue" is a JSON string, want true or false`}},
		{"Schedule list", inv(`{"Schedule":[]}`), []string{"Data.timer", `"Schedule" is a JSON array, want an object`}},
		{"ScheduleStatus string", inv(`{"ScheduleStatus":"never"}`), []string{"Data.timer", `"ScheduleStatus" is a JSON string, want an object`}},
		{"Next not a date", inv(`{"ScheduleStatus":{"Next":"tomorrow"}}`), []string{"Data.timer", "tomorrow"}},
		{"Next a number", inv(`{"ScheduleStatus":{"Next":5}}`), []string{"Data.timer", "not a JSON string"}},
		{"encoded, wrong type inside", inv(jsonString(`{"IsPastDue":1}`)), []string{"Data.timer", `"IsPastDue" is a JSON number, want true or false`}},
	}
}

// badQueueBodies are run requests of the wrong shape.
func badQueueBodies() []badInvocation {
	inv := func(msg string) string {
		return `{"Data":{"request":` + jsonString(msg) + `},"Metadata":{"DequeueCount":"1","Id":"\"m1\""}}`
	}
	return []badInvocation{
		{"timer's binding", `{"Data":{"timer":` + goodTimer + `},"Metadata":{}}`, []string{`Data has no "request" binding (the ReportQueue trigger's)`, `keys "timer"`}},
		{"runId number", inv(`{"runId":5,"trigger":"http"}`), []string{"Data.request", `"runId" is a JSON number, want a string`}},
		{"tenants string", inv(`{"runId":"` + goodRunID + `","tenants":"all"}`), []string{"Data.request", `"tenants" is a JSON string, want a list`}},
		{"sections numbers", inv(`{"runId":"` + goodRunID + `","sections":[1,2]}`), []string{"Data.request", `JSON number, want a string`}},
		{"requested not a date", inv(`{"runId":"` + goodRunID + `","requested":"yesterday"}`), []string{"Data.request", "yesterday"}},
		{"runId missing", inv(`{"trigger":"http"}`), []string{"Data.request", `"runId" "" is not a run id`}},
		{"runId traversal", inv(`{"runId":"../../runs/x","trigger":"http"}`), []string{"Data.request", `"runId" "../../runs/x" is not a run id`}},
		{"runId upper case", inv(`{"runId":"20261201T060000Z-ABCDEF"}`), []string{"Data.request", `"runId" "20261201T060000Z-ABCDEF" is not a run id`}},
		{"message text", inv("run the report please"), []string{"Data.request", "the string's text is not JSON"}},
		{"message truncated", inv(goodMessage[:20]), []string{"Data.request", "the JSON ends too early"}},
		{"message list", inv(`["` + goodRunID + `"]`), []string{"Data.request", "the value is a JSON array, want an object"}},
	}
}

// TestInvocationRejectsBadBodies is the bad-input matrix of the functions
// the host invokes: each bad body is answered 400 with the contract's reply,
// whose Logs line names the problem, the same line goes to the handler's
// log (the host drops a failed invocation's Logs; stderr is what an
// operator sees), and nothing runs.
func TestInvocationRejectsBadBodies(t *testing.T) {
	type fn struct {
		path  string
		cases []badInvocation
	}
	fns := []fn{
		{"/ReportTimer", append(badBodies("timer", goodTimer), badTimerBodies()...)},
		{"/ReportQueue", append(badBodies("request", jsonString(goodMessage)), badQueueBodies()...)},
	}
	n := 0
	for _, f := range fns {
		n += len(f.cases)
	}
	t.Logf("%d bad invocation bodies", n)
	for _, f := range fns {
		for _, tc := range f.cases {
			t.Run(f.path[1:]+"/"+tc.name, func(t *testing.T) {
				var logBuf bytes.Buffer
				runner := new(countingRunner)
				h := New(Config{Runner: runner, Logger: slog.New(slog.NewTextHandler(io.MultiWriter(&logBuf, t.Output()), nil))})
				resp := post(t, h, f.path, tc.body)
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("POST %s %.80q = %d, want 400", f.path, tc.body, resp.StatusCode)
				}
				r := readReply(t, resp)
				if len(r.Logs) != 1 {
					t.Fatalf("POST %s %.80q = Logs %q, want one line naming the problem", f.path, tc.body, r.Logs)
				}
				line := r.Logs[0]
				if !strings.HasPrefix(line, "customhandler: invocation: ") {
					t.Errorf("POST %s %.80q = Logs %q, want it to start customhandler: invocation:", f.path, tc.body, line)
				}
				for _, w := range tc.want {
					if !strings.Contains(line, w) {
						t.Errorf("POST %s %.80q = Logs %q, want it to say %q", f.path, tc.body, line, w)
					}
				}
				for _, goNoise := range []string{"Go value", "Go struct", "json.RawMessage", "run.Request", "customhandler.TimerInfo"} {
					if strings.Contains(line, goNoise) {
						t.Errorf("POST %s %.80q = Logs %q, which speaks Go (%q), not JSON", f.path, tc.body, line, goNoise)
					}
				}
				// slog's text handler quotes the error as strconv.Quote does.
				if logged := logBuf.String(); !strings.Contains(logged, "level=ERROR") || !strings.Contains(logged, strings.Trim(strconv.Quote(tc.want[0]), `"`)) {
					t.Errorf("handler log = %q, want an error saying %q", logged, tc.want[0])
				}
				if n := runner.runs.Load(); n != 0 {
					t.Errorf("POST %s %.80q ran %d reports, want none", f.path, tc.body, n)
				}
			})
		}
	}
}

// generated is a body of n bytes: head, then fill repeated, then tail,
// made as it is read. read counts the bytes taken from it.
type generated struct {
	head, tail []byte
	fill       byte
	n, off     int64
	read       atomic.Int64
}

func (g *generated) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && g.off < g.n {
		switch {
		case g.off < int64(len(g.head)):
			p[k] = g.head[g.off]
		case g.off >= g.n-int64(len(g.tail)):
			p[k] = g.tail[g.off-(g.n-int64(len(g.tail)))]
		default:
			p[k] = g.fill
		}
		k++
		g.off++
	}
	g.read.Add(int64(k))
	return k, nil
}

// TestInvocationHugeBody: a 64 MiB body is refused after reading at most
// maxInvocationBytes of it, with the limit in the Logs line, and nothing
// runs; the largest body the host can send passes.
func TestInvocationHugeBody(t *testing.T) {
	const huge = 64 << 20
	tests := []struct {
		name, path string
		head, tail string
		fill       byte
		want       string
	}{
		{"queue message", "/ReportQueue", `{"Data":{"request":"`, `"},"Metadata":{}}`, 'a', "the body is over 4194304 bytes"},
		{"leading whitespace", "/ReportTimer", "", `{"Data":{"timer":` + goodTimer + `}}`, ' ', "the body is over 4194304 bytes"},
		{"trailing whitespace", "/ReportTimer", `{"Data":{"timer":` + goodTimer + `}}`, "", '\n', "the body is over 4194304 bytes"},
		// encoding/json stops at 10,000 levels, before the limit.
		{"deep nesting", "/ReportQueue", `{"Data":{"request":`, "", '[', "exceeded max depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runner := new(countingRunner)
			h := New(Config{Runner: runner, Logger: slog.New(slog.DiscardHandler)})
			body := &generated{head: []byte(tt.head), tail: []byte(tt.tail), fill: tt.fill, n: huge}
			rec := httptest.NewRecorder()
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, tt.path, body)
			req.ContentLength = -1 // chunked, as the host may send it
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("POST %s (64 MiB) = %d, want 400", tt.path, rec.Code)
			}
			if read := body.read.Load(); read > maxInvocationBytes+1 {
				t.Errorf("POST %s (64 MiB): the handler read %d bytes of the body, want at most %d", tt.path, read, maxInvocationBytes+1)
			}
			r := readReply(t, rec.Result())
			if len(r.Logs) != 1 || !strings.Contains(r.Logs[0], tt.want) {
				t.Errorf("POST %s (64 MiB) = Logs %q, want one line saying %q", tt.path, r.Logs, tt.want)
			}
			if n := runner.runs.Load(); n != 0 {
				t.Errorf("POST %s (64 MiB) ran %d reports, want none", tt.path, n)
			}
		})
	}

	t.Run("largest queue message passes", func(t *testing.T) {
		// A 64 KiB message (Azure Storage's largest) of quotes, which
		// escaping inflates most: once in Data, twice in QueueTrigger.
		msg := `{"runId":"` + goodRunID + `","trigger":"http","sections":["` + strings.Repeat(`\"`, (64<<10-60)/2) + `"]}`
		body := `{"Data":{"request":` + jsonString(msg) + `},"Metadata":{"QueueTrigger":` + jsonString(jsonString(msg)) +
			`,"DequeueCount":"1","Id":"\"m1\""}}`
		if len(body) >= maxInvocationBytes {
			t.Fatalf("the largest invocation is %d bytes, over the limit %d", len(body), maxInvocationBytes)
		}
		runner := new(countingRunner)
		h := New(Config{Runner: runner, Logger: slog.New(slog.DiscardHandler)})
		resp := post(t, h, "/ReportQueue", body)
		readReply(t, resp)
		if resp.StatusCode != http.StatusOK || runner.runs.Load() != 1 {
			t.Errorf("POST /ReportQueue (%d bytes) = %d, %d runs; want 200 and the run", len(body), resp.StatusCode, runner.runs.Load())
		}
	})
}

// FuzzInvocation decodes any body as an invocation of either function; its
// seeds are the bad bodies of TestInvocationRejectsBadBodies and two good
// ones. To search for new inputs:
//
//	go test -run '^$' -fuzz '^FuzzInvocation$' -fuzztime 60s -fuzzminimizetime 100x ./internal/customhandler/
//
// Property: no panic; an error starts "customhandler: invocation: " and is
// at most 400 bytes whatever the body's size; a body taken holds the
// function's binding, and it decodes.
func FuzzInvocation(f *testing.F) {
	for _, c := range append(badBodies("timer", goodTimer), badTimerBodies()...) {
		f.Add("/ReportTimer", c.body)
	}
	for _, c := range append(badBodies("request", jsonString(goodMessage)), badQueueBodies()...) {
		f.Add("/ReportQueue", c.body)
	}
	f.Add("/ReportTimer", `{"Data":{"timer":`+goodTimer+`},"Metadata":{}}`)
	f.Add("/ReportQueue", `{"Data":{"request":`+jsonString(goodMessage)+`},"Metadata":{"DequeueCount":"2","Id":"\"m1\""}}`)
	f.Add("/ReportQueue", `{"Data":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"`+strings.Repeat("k", 500)+`":7}}`)
	f.Fuzz(func(t *testing.T, path, body string) {
		in, err := decodeInvocation(path, strings.NewReader(body))
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "customhandler: invocation: ") || len(msg) > 400 {
				t.Errorf("decodeInvocation(%q, %.100q) = %d bytes %.200q, want at most 400 starting customhandler: invocation:", path, body, len(msg), msg)
			}
			return
		}
		switch path {
		case "/ReportTimer":
			var ti TimerInfo
			// DeepEqual: ScheduleStatus is a pointer, and two decodings never share one.
			if err := Decode(in.Data["timer"], &ti); err != nil || !reflect.DeepEqual(ti, in.timer) {
				t.Errorf("decodeInvocation(%q, %.100q) took a timer binding that does not decode: %v", path, body, err)
			}
		case "/ReportQueue":
			var r run.Request
			if err := Decode(in.Data["request"], &r); err != nil || !run.ValidRunID(r.RunID) || r.RunID != in.request.RunID {
				t.Errorf("decodeInvocation(%q, %.100q) took a run request %+v that is not one: %v", path, body, r, err)
			}
		}
	})
}
