package customhandler

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tenantreport/tenantreport/internal/run"
)

// InvokeRequest is the body the Functions host POSTs to /<FunctionName> for
// a non-forwarded invocation. Values of Data and Metadata are raw: the host
// encodes strings, numbers and null twice (see [Decode]).
type InvokeRequest struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// InvokeResponse is the reply to an invocation. Outputs and Logs are never
// nil: the host expects an object and an array.
type InvokeResponse struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// TimerInfo is the timer trigger's binding data.
type TimerInfo struct {
	Schedule struct {
		AdjustForDST bool `json:"AdjustForDST"`
	} `json:"Schedule"`
	// ScheduleStatus is nil on the first run of a schedule.
	ScheduleStatus *struct {
		Last        time.Time `json:"Last"`
		Next        time.Time `json:"Next"`
		LastUpdated time.Time `json:"LastUpdated"`
	} `json:"ScheduleStatus"`
	IsPastDue bool `json:"IsPastDue"`
}

// Decode decodes one binding or metadata value into v. The host sends JSON
// objects as objects but strings, numbers and null as JSON strings holding
// their JSON text: the queue message hello arrives as "\"hello\"", the
// dequeue count 1 as "1", and a queue message whose text is a JSON object
// as a string holding a string holding the object. Plain JSON is accepted
// too. A string target takes the text inside the string layers; any other
// target is decoded from what the layers hold.
func Decode(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	const maxLayers = 3 // the host's, the message text's, and one to spare
	// notJSON is why the text of the innermost string is not JSON: the
	// likely reason a target other than a string does not take it.
	var notJSON error
	for range maxLayers {
		if len(raw) == 0 || raw[0] != '"' {
			break
		}
		var inner string
		if err := json.Unmarshal(raw, &inner); err != nil {
			return fmt.Errorf("customhandler: decode %.40s: %w", raw, err)
		}
		next := bytes.TrimSpace([]byte(inner))
		if s, ok := v.(*string); ok && (len(next) == 0 || next[0] != '"' || !json.Valid(next)) {
			// The innermost string: its text is the value, even if it
			// reads as JSON of another type ("1", "true").
			*s = inner
			return nil
		}
		if !json.Valid(next) {
			// A Decoder, not Unmarshal: Unmarshal calls a truncated text
			// "invalid character ' '" (a space it appends at the end).
			var probe any
			notJSON = json.NewDecoder(bytes.NewReader(next)).Decode(&probe)
			if notJSON == nil {
				notJSON = errors.New("data after its JSON")
			}
			break
		}
		raw = next
	}
	if err := json.Unmarshal(raw, v); err != nil {
		// Say it in JSON's terms, not Go's ("cannot unmarshal string into
		// Go value of type run.Request"), and why a string did not do.
		msg := jsonProblem(err)
		if notJSON != nil {
			msg += fmt.Sprintf(" (the string's text is not JSON: %s)", jsonProblem(notJSON))
		}
		return &decodeError{fmt.Sprintf("customhandler: decode %.40s: %s", raw, msg), err}
	}
	return nil
}

// decodeError is a decoding error told in the sender's terms, which keeps
// encoding/json's error, told in Go's, for errors.As.
type decodeError struct {
	msg string
	err error
}

func (e *decodeError) Error() string { return e.msg }
func (e *decodeError) Unwrap() error { return e.err }

// jsonProblem describes a JSON error in JSON's terms.
func jsonProblem(err error) string {
	if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) {
		what := "the value"
		if te.Field != "" {
			what = strconv.Quote(te.Field)
		}
		return fmt.Sprintf("%s is a JSON %s, want %s", what, te.Value, jsonKind(te.Type))
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), err.Error() == "unexpected end of JSON input":
		return "the JSON ends too early (truncated?)"
	case errors.Is(err, io.EOF):
		return "there is no JSON"
	}
	// Bounded: a time's parse error quotes the whole value, escaped.
	msg, cutShort := cut(strings.TrimPrefix(err.Error(), "json: "), maxProblemBytes)
	if cutShort {
		msg += "…"
	}
	return msg
}

// maxProblemBytes bounds a JSON problem in a message.
const maxProblemBytes = 200

// cut returns v's first max bytes, cut on a rune boundary, and whether it
// cut anything.
func cut(v string, max int) (string, bool) {
	if len(v) <= max {
		return v, false
	}
	n := max
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n], true
}

// jsonKind names the JSON a Go type decodes from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		if t == reflect.TypeFor[time.Time]() {
			return "a date-time string"
		}
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another type"
}

// maxInvocationBytes bounds an invocation body. The host's bodies are small:
// a timer's schedule, or a queue message (at most 64 KiB in Azure Storage)
// that Data and the QueueTrigger metadata each hold, its quotes and controls
// escaped once or twice (up to 7 bytes a byte): under 1 MiB. Beyond 4 MiB
// the body is refused unread, so that no sender, broken or hostile, makes
// the handler hold more.
const maxInvocationBytes = 4 << 20

// invoked is what the handlers read of an invocation.
type invoked struct {
	InvokeRequest
	timer     TimerInfo   // ReportTimer's binding
	request   run.Request // ReportQueue's binding
	attempt   int         // Metadata.DequeueCount; 1 when absent
	messageID string      // Metadata.Id
}

// triggers are the functions the host invokes, by path: the name of each
// one's trigger binding in Data, and how it decodes into an invoked.
// Decoding while reading the body means every bad invocation is refused
// with an error that names what is wrong and where.
var triggers = map[string]struct {
	binding string
	decode  func(json.RawMessage, *invoked) error
}{
	"/ReportTimer": {timerBinding, func(raw json.RawMessage, in *invoked) error { return Decode(raw, &in.timer) }},
	"/ReportQueue": {QueueBinding, func(raw json.RawMessage, in *invoked) error {
		if err := Decode(raw, &in.request); err != nil {
			return err
		}
		// A run id names blobs: refused here, before any storage is
		// touched, like the API's ids.
		if !run.ValidRunID(in.request.RunID) {
			return fmt.Errorf("customhandler: decode %.40s: \"runId\" %.80q is not a run id (like 20261201T060000123Z-1a2b3c)", raw, in.request.RunID)
		}
		return nil
	}},
}

// invocationMetadata are the metadata the handlers read, each decoded
// into an invoked and checked.
var invocationMetadata = []struct {
	name   string
	decode func(json.RawMessage, *invoked) error
}{
	{"DequeueCount", func(raw json.RawMessage, in *invoked) error {
		if err := Decode(raw, &in.attempt); err != nil {
			return err
		}
		if in.attempt < 1 {
			return fmt.Errorf("customhandler: decode %.40s: want a whole number from 1", raw)
		}
		return nil
	}},
	{"Id", func(raw json.RawMessage, in *invoked) error { return Decode(raw, &in.messageID) }},
}

// decodeInvocation reads the invocation body of the function at path, to
// its end: the host may send it chunked, so Content-Length is not trusted.
// A body that is not one JSON object of the contract's shape, lacks the
// function's trigger binding or holds a binding or metadata of the wrong
// type is an error naming the problem, prefixed "customhandler: invocation";
// otherwise it returns the binding and metadata decoded.
func decodeInvocation(path string, body io.Reader) (invoked, error) {
	// fail keeps the cause for errors.As (an *http.MaxBytesError says 413)
	// but tells the problem in the contract's terms.
	fail := func(cause error, format string, args ...any) (invoked, error) {
		return invoked{}, &decodeError{"customhandler: invocation: " + fmt.Sprintf(format, args...), cause}
	}
	tooLarge := func(err error) bool {
		mbe := (*http.MaxBytesError)(nil)
		return errors.As(err, &mbe)
	}
	br := bufio.NewReader(body)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\ufeff")) {
		// encoding/json would say "invalid character 'ï'".
		return fail(nil, "the body starts with a byte order mark (U+FEFF), which JSON does not allow")
	}
	dec := json.NewDecoder(br)
	in := invoked{attempt: 1}
	req := &in.InvokeRequest
	if err := dec.Decode(req); err != nil {
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field == "" {
			return fail(err, `the body is a JSON %s, want an object {"Data":{…},"Metadata":{…}}`, te.Value)
		}
		if tooLarge(err) {
			return fail(err, "the body is over %d bytes", maxInvocationBytes)
		}
		return fail(err, "the body is not an invocation's JSON: %s", jsonProblem(err))
	}
	// Not dec.More: it reports false for a stray "}" or "]".
	if _, err := dec.Token(); err != io.EOF {
		if tooLarge(err) {
			return fail(err, "the body is over %d bytes", maxInvocationBytes)
		}
		return fail(err, "the body has data after its JSON object (byte offset %d)", dec.InputOffset())
	}
	if tr, ok := triggers[path]; ok {
		raw, ok := req.Data[tr.binding]
		if !ok {
			return fail(nil, "Data has no %q binding (the %s trigger's): got Data with %s", tr.binding, strings.TrimPrefix(path, "/"), keys(req.Data))
		}
		if trimmed := bytes.TrimSpace(raw); bytes.Equal(trimmed, []byte("null")) || bytes.Equal(trimmed, []byte(`"null"`)) {
			// It would decode to the zero value: a timer run nobody
			// scheduled, or a run request without a run.
			return fail(nil, "Data.%s is null, want the %s trigger's data", tr.binding, strings.TrimPrefix(path, "/"))
		}
		if err := tr.decode(raw, &in); err != nil {
			return fail(err, "Data.%s: %s", tr.binding, strings.TrimPrefix(err.Error(), "customhandler: "))
		}
	}
	for _, m := range invocationMetadata {
		if raw, ok := req.Metadata[m.name]; ok {
			if err := m.decode(raw, &in); err != nil {
				return fail(err, "Metadata.%s: %s", m.name, strings.TrimPrefix(err.Error(), "customhandler: "))
			}
		}
	}
	return in, nil
}

// keys lists m's keys for a message: "no keys", or "keys "a", "b"", the
// first few of them, each cut short: the sender chose them.
func keys(m map[string]json.RawMessage) string {
	if len(m) == 0 {
		return "no keys"
	}
	const maxKeys = 5
	ks := slices.Sorted(maps.Keys(m))
	more := len(ks) - maxKeys
	ks = ks[:min(len(ks), maxKeys)]
	for i, k := range ks {
		ks[i] = fmt.Sprintf("%.40q", k)
	}
	if more > 0 {
		ks = append(ks, fmt.Sprintf("and %d more", more))
	}
	return "keys " + strings.Join(ks, ", ")
}
