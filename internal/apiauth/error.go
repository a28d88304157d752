package apiauth

import (
	"fmt"
	"net/http"
	"strings"
)

// Error is a request the API does not admit, as the HTTP layer answers it.
type Error struct {
	// Status is the HTTP status: 401 for a missing or refused token, 403
	// for a caller that may not do what it asks (the HTTP layer builds
	// those), 503 when the home tenant's keys cannot be fetched.
	Status int
	// Code is the RFC 6750 error code: "invalid_token" (401, a missing
	// token too) or "insufficient_scope" (403); "" for 503.
	Code string
	// Description says what is wrong, for the caller. Values taken from a
	// token are quoted, shortened and in printable ASCII; the token itself
	// and its signature never appear.
	Description string
	// Err is the cause of a 503, for the operator's log; nil otherwise.
	Err error
}

// Error returns the description, and the cause of a 503.
func (e *Error) Error() string {
	s := "apiauth: " + e.Description
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause of a 503.
func (e *Error) Unwrap() error { return e.Err }

// maxChallengeDescription bounds error_description in Challenge: the
// descriptions are shorter, and a header must stay small whatever they grow
// into.
const maxChallengeDescription = 256

// Challenge returns the WWW-Authenticate value that goes with e (RFC 6750
// §3): `Bearer error="…", error_description="…"` for a 401 or 403 with a
// Code, "Bearer" for one without, and "" for any other status, which takes
// no challenge. The value is one line of
// printable ASCII. RFC 6750 does not allow `"` or `\` in error_description,
// not even escaped: a `"` becomes `'`, a `\` `/`, any other character
// outside its set `?`, and a description over 256 bytes is cut short.
func (e *Error) Challenge() string {
	switch {
	case e.Status != http.StatusUnauthorized && e.Status != http.StatusForbidden:
		return ""
	case e.Code == "":
		return "Bearer"
	}
	return `Bearer error="` + attribute(e.Code) + `", error_description="` + attribute(e.Description) + `"`
}

// attribute returns s in the characters RFC 6750 allows in error and
// error_description (%x20-21 / %x23-5B / %x5D-7E), at most
// maxChallengeDescription bytes.
func attribute(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			r = '\''
		case r == '\\':
			r = '/'
		case r < 0x20 || r > 0x7e:
			r = '?'
		}
		b.WriteRune(r)
	}
	if b.Len() > maxChallengeDescription {
		return b.String()[:maxChallengeDescription-3] + "..."
	}
	return b.String()
}

// maxQuoted is how many characters of a value from a token a description
// repeats: enough to recognise a GUID or an issuer URL.
const maxQuoted = 48

// quote renders a value taken from a token for a description: in double
// quotes, at most maxQuoted characters, anything but printable ASCII (and
// `"` and `\`) as `?`.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	n := 0
	for _, r := range s {
		if n == maxQuoted {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	b.WriteByte('"')
	return b.String()
}

// invalid returns a 401 invalid_token refusal.
func invalid(format string, args ...any) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: fmt.Sprintf(format, args...)}
}

// unavailable returns the 503 for keys that cannot be fetched.
func unavailable(err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable,
		Description: "the home tenant's signing keys cannot be fetched from Entra ID: try again shortly", Err: err}
}
