package graphdata

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/tenantreport/tenantreport/internal/section"
)

// GraphError is an error answer of Graph to one request, with the ids
// Microsoft support asks for.
type GraphError struct {
	Op              string
	Status          int
	Code            string
	Msg             string
	RequestID       string
	ClientRequestID string
}

func (e *GraphError) Error() string {
	return fmt.Sprintf("graphdata: %s: HTTP %d %s: %s", e.Op, e.Status, e.Code, e.Msg)
}

// errNotPremium marks Graph's answer for premium-only data in a tenant
// without Entra ID P1/P2.
var errNotPremium = errors.New("graphdata: tenant has no Entra ID P1/P2")

func (e *GraphError) Unwrap() error {
	if e.Code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant" {
		return errNotPremium
	}
	return nil
}

// Explain says, for a reader of the report, what went wrong with sec and
// what to do.
func (e *GraphError) Explain(sec section.Section) string {
	var b strings.Builder
	switch {
	case e.Status == http.StatusUnauthorized:
		fmt.Fprintf(&b, "Graph rejected the token (%s); fix: check that %s and %s name this tenant's cloud", e.Code, "REPORT_CLOUD", "REPORT_GRAPH_ENDPOINT")
	case e.Status == http.StatusForbidden && e.Code == "Authorization_RequestDenied":
		fmt.Fprintf(&b, "Graph denied %s (%s); fix: grant %s to the bridge app and have the tenant's admin consent again",
			e.Op, e.Code, strings.Join(sec.Permissions, ", "))
	case e.Status == 0:
		fmt.Fprintf(&b, "%s: no answer from Graph: %s", e.Op, e.Msg)
	case e.Status == http.StatusTooManyRequests:
		fmt.Fprintf(&b, "throttled by Graph on %s after retries", e.Op)
	default:
		fmt.Fprintf(&b, "%s: HTTP %d %s: %s", e.Op, e.Status, e.Code, e.Msg)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s, client request id %s)", e.RequestID, e.ClientRequestID)
	}
	return b.String()
}

func graphError(op string, err error) error {
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		// No answer from Graph (connection reset, timeout after the SDK's
		// retries): the section failed, not the tenant.
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("graphdata: %s: %w", op, err)
		}
		return &GraphError{Op: op, Code: "RequestFailed", Msg: err.Error()}
	}
	ge := &GraphError{Op: op, Status: oe.ResponseStatusCode}
	if m := oe.GetErrorEscaped(); m != nil {
		ge.Code, ge.Msg = deref(m.GetCode()), deref(m.GetMessage())
		if in := m.GetInnerError(); in != nil {
			ge.RequestID, ge.ClientRequestID = deref(in.GetRequestId()), deref(in.GetClientRequestId())
		}
	}
	return ge
}
