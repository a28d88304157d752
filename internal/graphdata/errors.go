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
// Microsoft support asks for, or the failure to get one (Status 0).
type GraphError struct {
	Op              string
	Status          int
	Code            string
	Msg             string
	RequestID       string
	ClientRequestID string
	// Err is the cause: the SDK's *odataerrors.ODataError for an answer,
	// the transport's error (a reset connection, say) when there was none,
	// nil when Graph's answer could not be read. errors.Is and errors.As
	// see it.
	Err error
}

func (e *GraphError) Error() string {
	return fmt.Sprintf("graphdata: %s: HTTP %d %s: %s", e.Op, e.Status, e.Code, e.Msg)
}

// Graph's answers to a premium-only read (sign-in activity, the reports
// APIs) that the tenant cannot serve.
var (
	// errNotPremium marks the answer for a tenant without Entra ID P1/P2.
	errNotPremium = errors.New("graphdata: tenant has no Entra ID P1/P2")
	// errPremiumCheck marks Authentication_ApplicationHasNoDirectoryReadAccess
	// ("Failed to do premium license check from ADGraph"): Graph could not
	// check the tenant's licence because the app lacks Directory.Read.All.
	// Not documented for v1.0; reported for the reports APIs, and called a
	// known issue by Microsoft (microsoft-graph-docs #4818, #12911).
	errPremiumCheck = errors.New("graphdata: Graph's premium check needs Directory.Read.All")
)

// Unwrap returns the sentinel Graph's code maps to (errNotPremium,
// errPremiumCheck) and Err, those that are set.
func (e *GraphError) Unwrap() []error {
	var errs []error
	switch e.Code {
	case "Authentication_RequestFromNonPremiumTenantOrB2CTenant":
		errs = append(errs, errNotPremium)
	case "Authentication_ApplicationHasNoDirectoryReadAccess":
		errs = append(errs, errPremiumCheck)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Explain says, for a reader of the report, what went wrong with sec and
// what to do.
func (e *GraphError) Explain(sec section.Section) string {
	var b strings.Builder
	switch {
	case e.Status == http.StatusUnauthorized:
		fmt.Fprintf(&b, "Graph rejected the token (%s); fix: check that %s and %s name this tenant's cloud", e.Code, "REPORT_CLOUD", "REPORT_GRAPH_ENDPOINT")
	case e.Code == "Authentication_ApplicationHasNoDirectoryReadAccess":
		fmt.Fprintf(&b, "Graph could not do its Entra ID P1/P2 licence check for %s (%s: %s): the check needs Directory.Read.All, "+
			"a known Graph issue for the reports APIs; fix: grant Directory.Read.All to the bridge app and have the tenant's admin consent again",
			e.Op, e.Code, e.Msg)
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
		return &GraphError{Op: op, Code: "RequestFailed", Msg: err.Error(), Err: err}
	}
	ge := &GraphError{Op: op, Status: oe.ResponseStatusCode, Err: oe}
	if m := oe.GetErrorEscaped(); m != nil {
		ge.Code, ge.Msg = deref(m.GetCode()), deref(m.GetMessage())
		if in := m.GetInnerError(); in != nil {
			ge.RequestID, ge.ClientRequestID = deref(in.GetRequestId()), deref(in.GetClientRequestId())
		}
	}
	return ge
}
