package tenantauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Diagnosis explains an Entra error code to an operator.
type Diagnosis struct {
	Cause string
	Fix   string
}

// diagnoses maps AADSTS codes of the token exchange to what the operator
// should do. Several codes share a diagnosis. The codes of a federated
// credential that matches nothing are in ficCauses: their fix names the
// cloud.
var diagnoses = map[int]Diagnosis{
	700236: {
		Cause: "the federated credential is on an app registered in a tenant other than the managed identity's home tenant",
		Fix:   "register the multi-tenant bridge app and its federated credential in the managed identity's home tenant, then have each customer consent to it",
	},
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
	// Entra's answer in an outage (503 temporarily_unavailable), after
	// azidentity's own retries.
	90033: {
		Cause: "Microsoft Entra ID is temporarily unavailable for this tenant",
		Fix:   "nothing to change: the next run tries again; if it persists, check the Azure status page",
	},
	500011: {
		Cause: "the requested resource is not known in this tenant",
		Fix:   "check REPORT_CLOUD: the Graph scope must belong to the tenant's cloud",
	},
}

// ficCauses are the codes Entra answers when no federated credential of the
// bridge app matches the assertion, with their causes.
var ficCauses = map[int]string{
	70021:   ficMismatch,
	70025:   ficMismatch,
	700211:  ficMismatch,
	700212:  ficMismatch,
	7002121: ficMismatch,
	700213:  ficMismatch,
	7002137: ficMismatch,
	// Entra has compared subjects case-sensitively since 2024 and names this
	// case apart (e.g. https://github.com/Azure/login/issues/515).
	7002138: "the federated credential's subject matches the managed identity's object id only when case is ignored, and Entra compares it case-sensitively",
}

const ficMismatch = "no federated credential of the bridge app matches the managed identity token (issuer, subject or audience)"

// diagnosis returns the diagnosis of an AADSTS code, its fix written for the
// cloud of o, and whether the code is known.
func (o *Options) diagnosis(code int) (Diagnosis, bool) {
	if d, ok := o.Diagnoses[code]; ok {
		return d, true
	}
	if cause, ok := ficCauses[code]; ok {
		return Diagnosis{Cause: cause, Fix: o.ficFix()}, true
	}
	d, ok := diagnoses[code]
	return d, ok
}

// ficFix is what the bridge app's federated credential must say on the cloud
// of o: Entra's issuer there, the identity's object id and the cloud's token
// exchange audience.
func (o *Options) ficFix() string {
	host := o.AuthorityHost
	if host == "" {
		host = cloud.AzurePublic.ActiveDirectoryAuthorityHost // azidentity's default
	}
	audience := o.ExchangeAudience
	if audience == "" {
		audience = "the cloud's token exchange audience"
	}
	return "set the credential's issuer to " + strings.TrimSuffix(host, "/") + "/{home tenant id}/v2.0, " +
		"its subject to the managed identity's object (principal) id exactly as Entra shows it (the match is case-sensitive), " +
		"and its audience to " + audience
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
	err = diagnose(tenantID, err, &s.opts)
	if e := (*Error)(nil); errors.As(err, &e) && e.Code == "AADSTS700016" {
		e.ConsentURL = s.ConsentURL(tenantID)
	}
	return err
}

// ConsentURL is the admin-consent URL of the bridge app in tenantID, on the
// configured cloud's authority host, with the redirect URI the bridge app
// registers: without one the admin lands on AADSTS900971 (none given) or
// AADSTS500113 (none registered) after consenting.
func (s *Source) ConsentURL(tenantID string) string {
	u := s.opts.AuthorityHost + url.PathEscape(tenantID) + "/adminconsent?client_id=" + url.QueryEscape(s.opts.BridgeAppClientID)
	if s.opts.ConsentRedirectURI != "" {
		u += "&redirect_uri=" + url.QueryEscape(s.opts.ConsentRedirectURI)
	}
	return u
}

func diagnose(tenantID string, err error, o *Options) error {
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
		if d, ok := o.diagnosis(c); ok {
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
