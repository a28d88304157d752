package tenantauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Diagnosis explains an Entra error code to an operator.
type Diagnosis struct {
	Cause string
	Fix   string
}

// diagnoses maps AADSTS codes of the token exchange to what the operator
// should do. Several codes share a diagnosis.
var diagnoses = map[int]Diagnosis{
	700236: {
		Cause: "the federated credential is on an app registered in a tenant other than the managed identity's home tenant",
		Fix:   "register the multi-tenant bridge app and its federated credential in the managed identity's home tenant, then have each customer consent to it",
	},
	70021:  ficMismatch,
	700211: ficMismatch,
	700212: ficMismatch,
	700213: ficMismatch,
	70025:  ficMismatch,
	700016: {
		Cause: "the bridge app is not provisioned in this tenant: admin consent has not been given",
		Fix:   "have a Global or Privileged Role Administrator of the tenant open the admin-consent URL and accept",
	},
	7000112: {
		Cause: "the bridge app's service principal is disabled in this tenant",
		Fix:   "ask the tenant's admin to enable the tenantreport enterprise application (Properties → Enabled for users to sign in)",
	},
	90002: {
		Cause: "the tenant does not exist in this cloud",
		Fix:   "check the tenantId in REPORT_TENANTS and that REPORT_CLOUD is the tenant's cloud",
	},
	53003: {
		Cause: "the tenant's Conditional Access for workload identities blocked the bridge app",
		Fix:   "ask the tenant's admin to exclude the tenantreport service principal from the blocking policy or allow the Function App's outbound addresses",
	},
	700024: {
		Cause: "the managed identity token used as assertion has expired or the clock is skewed",
		Fix:   "check the host clock; the token is refreshed on the next run",
	},
	700222: notMIToken,
	700226: notMIToken,
	700229: notMIToken,
	50013: {
		Cause: "the client assertion's signature could not be validated: it is not a token of this cloud's managed identity",
		Fix:   "check REPORT_CLOUD and that the Function App's managed identity, not another credential, supplies the assertion",
	},
	500011: {
		Cause: "the requested resource is not known in this tenant",
		Fix:   "check REPORT_CLOUD: the Graph scope must belong to the tenant's cloud",
	},
}

var ficMismatch = Diagnosis{
	Cause: "no federated credential of the bridge app matches the managed identity token (issuer, subject or audience)",
	Fix:   "set the credential's issuer to https://login.microsoftonline.com/{home tenant}/v2.0, its subject to the managed identity's object (principal) id, and its audience to api://AzureADTokenExchange",
}

var notMIToken = Diagnosis{
	Cause: "the client assertion is not an app-only managed identity token",
	Fix:   "set MANAGED_IDENTITY_CLIENT_ID to the client id of the user-assigned identity the federated credential trusts",
}

// Error is a failed token exchange for one tenant, with what Entra said and
// what to do about it. It never holds a token or an assertion.
type Error struct {
	TenantID string
	// Code is the first AADSTS code of the reply, e.g. "AADSTS700016"; empty
	// when Entra gave none.
	Code string
	Diagnosis
	// ConsentURL is where the tenant's admin consents to the bridge app, set
	// when consent is what is missing.
	ConsentURL string
	// TraceID and CorrelationID identify the request in an Azure support case.
	TraceID       string
	CorrelationID string
	Err           error
}

func (e *Error) Error() string {
	return "tenantauth: tenant " + e.TenantID + ": " + e.Explain()
}

// Explain is the diagnosis for a reader of the report: the code, the cause,
// the fix and the ids for a support case.
func (e *Error) Explain() string {
	var b strings.Builder
	if e.Code != "" {
		b.WriteString(e.Code + ": ")
	}
	b.WriteString(e.Cause)
	if e.Fix != "" {
		b.WriteString("; fix: " + e.Fix)
	}
	if e.ConsentURL != "" {
		b.WriteString(": " + e.ConsentURL)
	}
	if e.TraceID != "" || e.CorrelationID != "" {
		fmt.Fprintf(&b, " (trace id %s, correlation id %s)", e.TraceID, e.CorrelationID)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ManagedIdentityError is a failure of the managed identity to get the
// assertion token, before any target tenant is asked.
type ManagedIdentityError struct{ Err error }

func (e *ManagedIdentityError) Error() string {
	return "tenantauth: managed identity token: " + e.Err.Error()
}

func (e *ManagedIdentityError) Unwrap() error { return e.Err }

// entraError is the error body of the v2.0 token endpoint.
type entraError struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
}

// Diagnose turns a token exchange failure for tenantID into an [*Error].
// Errors that are not Entra's replies (a cancelled context, a network error,
// the managed identity failing) are returned as they are.
func (s *Source) Diagnose(tenantID string, err error) error {
	err = diagnose(tenantID, err)
	if e := (*Error)(nil); errors.As(err, &e) && e.Code == "AADSTS700016" {
		e.ConsentURL = s.ConsentURL(tenantID)
	}
	return err
}

// ConsentURL is the admin-consent URL of the bridge app in tenantID, on the
// configured cloud's authority host.
func (s *Source) ConsentURL(tenantID string) string {
	return s.opts.AuthorityHost + url.PathEscape(tenantID) + "/adminconsent?client_id=" + url.QueryEscape(s.opts.BridgeAppClientID)
}

func diagnose(tenantID string, err error) error {
	var mi *ManagedIdentityError
	if err == nil || errors.As(err, &mi) {
		return err
	}
	var af *azidentity.AuthenticationFailedError
	if !errors.As(err, &af) || af.RawResponse == nil {
		return err
	}
	body, rerr := runtime.Payload(af.RawResponse)
	var ee entraError
	if rerr != nil || json.Unmarshal(body, &ee) != nil || (ee.Error == "" && len(ee.Codes) == 0) {
		return &Error{TenantID: tenantID, Diagnosis: Diagnosis{Cause: fmt.Sprintf("token endpoint answered HTTP %d", af.RawResponse.StatusCode)}, Err: err}
	}
	e := &Error{TenantID: tenantID, TraceID: ee.TraceID, CorrelationID: ee.CorrelationID, Err: err}
	for _, c := range ee.Codes {
		if d, ok := diagnoses[c]; ok {
			e.Code, e.Diagnosis = "AADSTS"+strconv.Itoa(c), d
			return e
		}
	}
	if len(ee.Codes) > 0 {
		e.Code = "AADSTS" + strconv.Itoa(ee.Codes[0])
	}
	// An unknown code: Entra's own first sentence is the best cause we have.
	e.Cause = firstSentence(strings.TrimPrefix(ee.Description, e.Code+": "))
	return e
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i]
	}
	return strings.TrimSuffix(s, ".")
}
