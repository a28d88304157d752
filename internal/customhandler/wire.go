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
// dequeue count 1 as "1". Both that form and plain JSON are accepted: a
// value that is a JSON string is decoded once more when its content is
// itself JSON of the target's shape.
func Decode(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("customhandler: decode %.40s: %w", raw, err)
		}
		return nil
	}
	var inner string
	if err := json.Unmarshal(raw, &inner); err != nil {
		return fmt.Errorf("customhandler: decode %.40s: %w", raw, err)
	}
	if err := json.Unmarshal([]byte(inner), v); err == nil {
		return nil
	}
	// Not double-encoded: a plain JSON string. It fits only a string target.
	if s, ok := v.(*string); ok {
		*s = inner
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("customhandler: decode %.40s: %w", raw, err)
	}
	return nil
}
