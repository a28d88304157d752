package run

import (
	"fmt"
	"strings"
)

// CutShortError is a run stopped before its end because its context
// ended, as when the handler is stopped (SIGTERM) mid-run. Its text is the
// run record's reason: what stopped the run and what it had done by then,
// e.g. "cut short: the handler was stopped (SIGTERM) after 3 of 10 tenants;
// not collected: …".
type CutShortError struct {
	// Cause is the context's cause: why the run was stopped.
	Cause error
	// Total is the run's number of tenants; Collected of them were read
	// before the cut.
	Total, Collected int
	// Missing names the tenants not collected (empty when the cut came
	// after collection).
	Missing []string
	// Err is the step's own error, when the cut came after collection
	// (writing the workbook, say).
	Err error
}

// maxMissing bounds how many missing tenants the reason names.
const maxMissing = 20

func (e *CutShortError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cut short: %v after %d of %d tenants", e.Cause, e.Collected, e.Total)
	if len(e.Missing) > 0 {
		names := e.Missing[:min(len(e.Missing), maxMissing)]
		fmt.Fprintf(&b, "; not collected: %s", strings.Join(names, ", "))
		if n := len(e.Missing) - len(names); n > 0 {
			fmt.Fprintf(&b, " and %d more", n)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, "; %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the cause and the step's error, so errors.Is finds
// either.
func (e *CutShortError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Cause}
	}
	return []error{e.Cause, e.Err}
}
