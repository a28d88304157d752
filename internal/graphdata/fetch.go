package graphdata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Pages are fetched through the SDK (request building, auth, retries,
// redirects) but decoded here, not into the SDK's models: the models fail a
// whole page on one malformed value (Graph's own documentation shows "" for
// a datetime), and a report must lose the value, not the page.

var errorMapping = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// page is one page of a Graph collection.
type page struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// each reads the collection ri names, page by page, decoding each item
// into a new T and passing it to fn. Values that could not be decoded, and
// were left blank, are counted in c.warnings.
func each[T any](ctx context.Context, c *collection, op string, ri *abs.RequestInformation, fn func(T) error) error {
	return read(ctx, c, op, ri, true, fn)
}

// eachFirstPage is each without following @odata.nextLink (for the newest
// secure score: further pages are older days).
func eachFirstPage[T any](ctx context.Context, c *collection, op string, ri *abs.RequestInformation, fn func(T) error) error {
	return read(ctx, c, op, ri, false, fn)
}

// pageReads is how many times a page whose body is not JSON is read: a
// body cut short is a broken transfer, not Graph's answer.
const pageReads = 4

func read[T any](ctx context.Context, c *collection, op string, ri *abs.RequestInformation, allPages bool, fn func(T) error) error {
	for {
		var p page
		for attempt := 1; ; attempt++ {
			raw, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", errorMapping)
			if err != nil {
				return graphError(op, err)
			}
			body, _ := raw.([]byte)
			if err = json.Unmarshal(body, &p); err == nil {
				break
			}
			if attempt == pageReads {
				return &GraphError{Op: op, Status: 200, Code: "MalformedResponse", Msg: fmt.Sprintf("response is not a Graph collection (read %d times): %v", pageReads, err)}
			}
			p = page{}
		}
		for _, item := range p.Value {
			var v T
			// encoding/json fills every field it can and reports the first
			// that it could not; the item is kept with that field blank.
			// Anything else (not an object at all) loses the item.
			if err := json.Unmarshal(item, &v); err != nil {
				c.warnings++
				if te := (*json.UnmarshalTypeError)(nil); !errors.As(err, &te) {
					continue
				}
			}
			c.warnings += countBad(&v)
			if err := fn(v); err != nil {
				return err
			}
		}
		if p.NextLink == "" || !allPages {
			return nil
		}
		u, err := url.Parse(p.NextLink)
		if err != nil {
			return &GraphError{Op: op, Status: 200, Code: "MalformedResponse", Msg: "bad @odata.nextLink"}
		}
		// The SDK keeps the token from hosts off its list by host name
		// alone, whatever the scheme or port: a next page anywhere but
		// the Graph endpoint itself is not asked for at all.
		if base, _ := url.Parse(c.adapter.GetBaseUrl()); base == nil || u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) {
			return &GraphError{Op: op, Status: 200, Code: "MalformedResponse",
				Msg: fmt.Sprintf("@odata.nextLink points at %s://%s, not at Graph: not followed", u.Scheme, u.Host)}
		}
		next := abs.NewRequestInformation()
		next.Method = abs.GET
		next.SetUri(*u)
		next.Headers.TryAdd("Accept", "application/json")
		ri = next
	}
}

// graphTime is a Graph DateTimeOffset that decodes leniently: a value that
// is not a time leaves it zero (a blank cell) and marks it bad.
type graphTime struct {
	T   time.Time
	Bad bool
}

func (g *graphTime) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		g.Bad = true
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		g.Bad = true
		return nil
	}
	g.T = t.UTC()
	return nil
}

// badCounter is implemented by decoded items holding graphTime fields.
type badCounter interface{ bad() int }

func countBad(v any) int {
	if b, ok := v.(badCounter); ok {
		return b.bad()
	}
	return 0
}

func bads(ts ...graphTime) int {
	n := 0
	for _, t := range ts {
		if t.Bad {
			n++
		}
	}
	return n
}
