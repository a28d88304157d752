package customhandler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
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
			break
		}
		raw = next
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("customhandler: decode %.40s: %w", raw, err)
	}
	return nil
}
