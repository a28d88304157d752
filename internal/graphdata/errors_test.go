package graphdata

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/tenantreport/tenantreport/internal/section"
)

// TestGraphErrorKeepsCause checks that a GraphError wraps what caused it, so
// callers can errors.Is and errors.As through it.
func TestGraphErrorKeepsCause(t *testing.T) {
	reset := fmt.Errorf("read tcp: %w", syscall.ECONNRESET)
	err := graphError("users", fmt.Errorf("kiota: %w", reset))
	var ge *GraphError
	if !errors.As(err, &ge) || ge.Status != 0 || ge.Code != "RequestFailed" || !strings.Contains(ge.Msg, "connection reset") {
		t.Fatalf("graphError(reset) = %#v, want a RequestFailed GraphError with the text", err)
	}
	if !errors.Is(err, syscall.ECONNRESET) || !errors.Is(err, reset) {
		t.Errorf("graphError(reset) = %v: errors.Is(ECONNRESET) = false, want the cause kept", err)
	}

	oe := odataerrors.NewODataError()
	oe.ResponseStatusCode = http.StatusServiceUnavailable
	main := odataerrors.NewMainError()
	main.SetCode(ptr("serviceNotAvailable"))
	main.SetMessage(ptr("try later"))
	oe.SetErrorEscaped(main)
	err = graphError("devices", oe)
	var got *odataerrors.ODataError
	if !errors.As(err, &ge) || ge.Status != 503 || ge.Code != "serviceNotAvailable" || !errors.As(err, &got) || got != oe {
		t.Errorf("graphError(ODataError) = %#v, want status, code and the ODataError itself", err)
	}

	if err := graphError("users", context.Canceled); !errors.Is(err, context.Canceled) || errors.As(err, &ge) {
		t.Errorf("graphError(Canceled) = %#v, want the context's error, not a GraphError", err)
	}
}

func TestPremiumRefused(t *testing.T) {
	mfa, _ := section.Lookup("mfa")
	tests := []struct {
		err    error
		ok     bool
		reason []string
	}{
		{&GraphError{Op: "userRegistrationDetails", Status: 403, Code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant"},
			true, []string{"needs Entra ID P1/P2"}},
		{&GraphError{Op: "userRegistrationDetails", Status: 403, Code: "Authentication_ApplicationHasNoDirectoryReadAccess",
			Msg: "Failed to do premium license check from ADGraph", RequestID: "r1", ClientRequestID: "c1"},
			true, []string{"licence check for userRegistrationDetails", "needs Directory.Read.All",
				"fix: grant Directory.Read.All to the bridge app", "Authentication_ApplicationHasNoDirectoryReadAccess", "request id r1"}},
		{&GraphError{Op: "userRegistrationDetails", Status: 403, Code: "Authorization_RequestDenied"}, false, nil},
		{errors.New("disk full"), false, nil},
		{nil, false, nil},
	}
	for _, tt := range tests {
		reason, ok := premiumRefused(fmt.Errorf("wrapped: %w", tt.err), mfa)
		if tt.err == nil {
			reason, ok = premiumRefused(nil, mfa)
		}
		if ok != tt.ok {
			t.Errorf("premiumRefused(%v) = %q, %v; want ok %v", tt.err, reason, ok, tt.ok)
		}
		for _, w := range tt.reason {
			if !strings.Contains(reason, w) {
				t.Errorf("premiumRefused(%v) = %q, want it to contain %q", tt.err, reason, w)
			}
		}
	}
	check := &GraphError{Status: 403, Code: "Authentication_ApplicationHasNoDirectoryReadAccess"}
	if !errors.Is(check, errPremiumCheck) || errors.Is(check, errNotPremium) {
		t.Errorf("premium-check 403: errors.Is errPremiumCheck, errNotPremium = %v, %v; want true, false",
			errors.Is(check, errPremiumCheck), errors.Is(check, errNotPremium))
	}
}
