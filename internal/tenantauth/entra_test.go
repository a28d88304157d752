package tenantauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tenantreport/tenantreport/internal/tenantauth"
)

// tokenFunc is an azcore.TokenCredential that returns what f returns.
type tokenFunc func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error)

func (f tokenFunc) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return f(ctx, o)
}

// unpublished stands in for the trace and correlation ids of a reply whose
// source quotes only its message.
const unpublished = "00000000-0000-0000-0000-000000000000"

// entraReplies are error replies of Entra's v2.0 token endpoint as they were
// captured in public, each with its source. Where a source quotes only the
// message, the rest of the reply is Entra's v2.0 error shape as the full
// captures show it (error, error_description ending in the trace id,
// correlation id and timestamp, error_codes, timestamp, trace_id,
// correlation_id, error_uri), with the source's status and error when it
// gives them, else those of the captures of the same family.
var entraReplies = []struct {
	name   string
	source string
	status int
	body   string
	// discovery is true when Entra refuses the tenant's OIDC discovery
	// document already, which MSAL reads before the token endpoint.
	discovery bool
	code      string
	cause     string // part of the diagnosis's cause
	fix       string // part of its fix
}{
	{
		name:   "app registered in another tenant than the identity",
		source: "message: https://github.com/arsenvlad/entra-cross-tenant-app-fic-managed-identity (2024-12); status as the other federated credential failures",
		status: 401,
		body:   `{"error":"invalid_client","error_description":"AADSTS700236: Entra ID tokens issued by issuer 'https://login.microsoftonline.com/13051989-33ba-4ced-b4a4-b56aac699948/v2.0' may not be used for federated identity credential flows for applications or managed identities registered in this tenant. Trace ID: ` + unpublished + ` Correlation ID: ` + unpublished + ` Timestamp: 2024-12-23 00:00:00Z","error_codes":[700236],"timestamp":"2024-12-23 00:00:00Z","trace_id":"` + unpublished + `","correlation_id":"` + unpublished + `","error_uri":"https://login.microsoftonline.com/error?code=700236"}`,
		code:   "AADSTS700236",
		cause:  "tenant other than the managed identity's home tenant",
		fix:    "register the multi-tenant bridge app and its federated credential in the managed identity's home tenant",
	},
	{
		name:   "no matching federated credential, 2022",
		source: "https://github.com/Azure/azure-workload-identity/issues/616",
		status: 400,
		body:   `{"error":"invalid_request","error_description":"AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: 'https://kubernetes.default.svc.cluster.local'. Assertion Subject: 'system:serviceaccount:default:workload-identity-sa'. Assertion Audience: 'api://AzureADTokenExchange'. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation\r\nTrace ID: 30b6df93-efd2-459c-ae6a-bad0838f6f00\r\nCorrelation ID: dffc6012-a4af-4f00-80ab-3e831069b3cc\r\nTimestamp: 2022-10-27 23:39:22Z","error_codes":[70021],"timestamp":"2022-10-27 23:39:22Z","trace_id":"30b6df93-efd2-459c-ae6a-bad0838f6f00","correlation_id":"dffc6012-a4af-4f00-80ab-3e831069b3cc","error_uri":"https://login.microsoftonline.com/error?code=70021"}`,
		code:   "AADSTS70021",
		cause:  "no federated credential of the bridge app matches",
		fix:    "/{home tenant id}/v2.0",
	},
	{
		name:   "no matching federated credential, 2023",
		source: "https://github.com/external-secrets/external-secrets/issues/2783",
		status: 401,
		body:   `{"error":"invalid_client","error_description":"AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: 'https://eastus.oic.prod-aks.azure.com/c90ea95b-aead-4931-b72e-f3e703fc342b/85ee619b-d637-4610-bacd-d4c64ff20348/'. Assertion Subject: 'system:serviceaccount:external-secrets:external-secrets'. Assertion Audience: 'api://AzureADTokenExchange'. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation\r\nTrace ID: 72348f3f-7ab2-4ad1-a3e5-4fdc75f5ae00\r\nCorrelation ID: 21cae4b9-1c21-4751-bd19-5abac7dc93b6\r\nTimestamp: 2023-10-13 19:07:11Z","error_codes":[70021],"timestamp":"2023-10-13 19:07:11Z","trace_id":"72348f3f-7ab2-4ad1-a3e5-4fdc75f5ae00","correlation_id":"21cae4b9-1c21-4751-bd19-5abac7dc93b6","error_uri":"https://login.microsoftonline.com/error?code=70021"}`,
		code:   "AADSTS70021",
		cause:  "no federated credential of the bridge app matches",
		fix:    "audience to api://AzureADTokenExchange",
	},
	{
		name:   "subject not in the form the credential needs",
		source: "https://github.com/microsoft/Agents/issues/202",
		status: 401,
		body:   `{"error":"invalid_client","error_description":"AADSTS7002137: No matching federated identity record found for presented assertion subject '/eid1/c/pub/t/v4j5cvGGr0GRqy180BHbRw/a/9ExAW52n_ky4ZiS_jhpJIQ/7e307b14-2a27-4f66-ada8-ec6400eb4977'. Please make sure the federated identity credential Subject is '/eid1/c/pub/t/{tenantId}/a/9ExAW52n_ky4ZiS_jhpJIQ/7e307b14-2a27-4f66-ada8-ec6400eb4977'. Trace ID: 007fc931-d337-4638-8760-8f5c9c231e00 Correlation ID: bc6ac312-88fd-4b97-8d37-6566985045b9 Timestamp: 2025-07-07 10:30:48Z","error_codes":[7002137],"timestamp":"2025-07-07 10:30:48Z","trace_id":"007fc931-d337-4638-8760-8f5c9c231e00","correlation_id":"bc6ac312-88fd-4b97-8d37-6566985045b9","error_uri":"https://login.microsoftonline.com/error?code=7002137"}`,
		code:   "AADSTS7002137",
		cause:  "no federated credential of the bridge app matches",
		fix:    "subject to the managed identity's object (principal) id",
	},
	{
		name:   "subject matches only when case is ignored",
		source: "message: https://github.com/Azure/login/issues/515 (2025-02); status as AADSTS7002137",
		status: 401,
		body:   `{"error":"invalid_client","error_description":"AADSTS7002138: No matching federated identity record found for presented assertion subject 'repo:CODfreak213421/IsocertsgDashboard23:environment:Production'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. See documentation at: https://learn.microsoft.com/entra/workload-id/workload-identity-federation. See breaking change notification and remediation at: https://learn.microsoft.com/en-us/entra/identity-platform/reference-breaking-changes#august-2024. Trace ID: ` + unpublished + ` Correlation ID: ` + unpublished + ` Timestamp: 2025-02-22 00:00:00Z","error_codes":[7002138],"timestamp":"2025-02-22 00:00:00Z","trace_id":"` + unpublished + `","correlation_id":"` + unpublished + `","error_uri":"https://login.microsoftonline.com/error?code=7002138"}`,
		code:   "AADSTS7002138",
		cause:  "compares it case-sensitively",
		fix:    "exactly as Entra shows it",
	},
	{
		name:   "app not provisioned in the tenant",
		source: "Microsoft Learn, Troubleshoot Azure fence agent startup issues in RHEL, cause 2 (fence_azure_arm log of 2020-04-06)",
		status: 400,
		body:   `{"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier '<application ID>' was not found in the directory '<directory name>'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.\r\nTrace ID: 9d86f824-52c1-45a8-b24f-c81473122d00\r\nCorrelation ID: 7dd6de5d-1d6a-4950-be8b-9a2cb2df8553\r\nTimestamp:2020-04-06 10:06:52Z","error_codes":[700016],"timestamp":"2020-04-06 10:06:52Z","trace_id":"9d86f824-52c1-45a8-b24f-c81473122d00","correlation_id":"7dd6de5d-1d6a-4950-be8b-9a2cb2df8553","error_uri":"https://login.microsoftonline.com/error?code=700016 "}`,
		code:   "AADSTS700016",
		cause:  "admin consent has not been given",
		fix:    "admin-consent URL",
	},
	{
		name:   "service principal disabled",
		source: "message: https://github.com/Worklytics/psoxy/pull/74 (quotes error and description only)",
		status: 400,
		body:   `{"error":"unauthorized_client","error_description":"AADSTS7000112: Application '8b0c024c-7823-3774-2da8-a8d8b7ed331a'(worklytics-azuread-connector) is disabled. Trace ID: ` + unpublished + ` Correlation ID: ` + unpublished + ` Timestamp: 2022-04-14 00:00:00Z","error_codes":[7000112],"timestamp":"2022-04-14 00:00:00Z","trace_id":"` + unpublished + `","correlation_id":"` + unpublished + `","error_uri":"https://login.microsoftonline.com/error?code=7000112"}`,
		code:   "AADSTS7000112",
		cause:  "service principal is disabled",
		fix:    "enable",
	},
	{
		name:      "tenant not found",
		source:    "https://github.com/james-gould/azure-keyvault-emulator/issues/324 (the OIDC discovery endpoint's reply)",
		status:    400,
		discovery: true,
		body:      `{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant 'secrets' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant. Trace ID: 2e35e78b-e885-4bdd-90e2-d7beb467df00 Correlation ID: 0774b819-134d-4815-9573-a31a98397420 Timestamp: 2025-08-18 15:26:14Z","error_codes":[90002],"timestamp":"2025-08-18 15:26:14Z","trace_id":"2e35e78b-e885-4bdd-90e2-d7beb467df00","correlation_id":"0774b819-134d-4815-9573-a31a98397420","error_uri":"https://login.microsoftonline.com/error?code=90002"}`,
		code:      "AADSTS90002",
		cause:     "does not exist in this cloud",
		fix:       "REPORT_CLOUD",
	},
	{
		name:   "blocked by Conditional Access",
		source: "Azure SDK for C++, sdk/identity/azure-identity/TROUBLESHOOTING.md (EnvironmentCredential log)",
		status: 400,
		body:   `{"error":"invalid_grant","error_description":"AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance. Trace ID: 11223344-5566-7788-9900-aabbccddeeff Correlation ID: ffeeddcc-bbaa-9988-7766-554433221100 Timestamp: 2025-03-07 21:25:44Z","error_codes":[53003],"timestamp":"2025-03-07 21:25:44Z","trace_id":"11223344-5566-7788-9900-aabbccddeeff","correlation_id":"ffeeddcc-bbaa-9988-7766-554433221100","error_uri":"https://login.microsoftonline.com/error?code=53003","suberror":"message_only","claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"01234567-89ab-cdef-fedc-ba9876543210\"]}}}"}`,
		code:   "AADSTS53003",
		cause:  "Conditional Access for workload identities",
		fix:    "exclude the tenantreport service principal",
	},
	{
		name:   "assertion expired",
		source: "AKS workload identity troubleshooting notes quoting Entra's reply (2023-05-30); status as the other invalid_client replies",
		status: 401,
		body:   `{"error":"invalid_client","error_description":"AADSTS700024: Client assertion is not within its valid time range. Current time: 2023-05-30T05:19:20.3135329Z, assertion valid from 2023-02-28T08:57:37.0000000Z, expiry time of assertion 2023-02-28T09:57:37.0000000Z. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .\r\nTrace ID: e108283e-633a-4b4d-ba18-dcd92c6ea500\r\nCorrelation ID: e52ee2e3-a68f-46a2-b95d-d5cd556399c8\r\nTimestamp: 2023-05-30 05:19:20Z","error_codes":[700024],"timestamp":"2023-05-30 05:19:20Z","trace_id":"e108283e-633a-4b4d-ba18-dcd92c6ea500","correlation_id":"e52ee2e3-a68f-46a2-b95d-d5cd556399c8","error_uri":"https://login.microsoftonline.com/error?code=700024"}`,
		code:   "AADSTS700024",
		cause:  "expired or the clock is skewed",
		fix:    "check the host clock",
	},
	{
		name:   "Entra token that Entra does not take as a federated credential",
		source: "https://github.com/AzureAD/microsoft-identity-web/issues/2519 (ids redacted there)",
		status: 401,
		body:   `{"error":"invalid_client","error_description":"AADSTS700222: AAD-issued tokens may not be used for federated identity flows.\r\nTrace ID: ` + unpublished + `\r\nCorrelation ID: ` + unpublished + `\r\nTimestamp: 2023-10-11 21:02:40Z","error_codes":[700222],"timestamp":"2023-10-11 21:02:40Z","trace_id":"` + unpublished + `","correlation_id":"` + unpublished + `","error_uri":"https://login.microsoftonline.com/error?code=700222"}`,
		code:   "AADSTS700222",
		cause:  "not an app-only managed identity token",
		fix:    "MANAGED_IDENTITY_CLIENT_ID",
	},
	{
		name:   "app token instead of a managed identity's",
		source: "message: https://github.com/arsenvlad/entra-cross-tenant-app-fic-managed-identity (2024-12); status as the other federated credential failures",
		status: 401,
		body:   `{"error":"invalid_client","error_description":"AADSTS700226: Only MSI tokens may be used as Federated Identity Credentials for AAD issuer. Trace ID: ` + unpublished + ` Correlation ID: ` + unpublished + ` Timestamp: 2024-12-23 00:00:00Z","error_codes":[700226],"timestamp":"2024-12-23 00:00:00Z","trace_id":"` + unpublished + `","correlation_id":"` + unpublished + `","error_uri":"https://login.microsoftonline.com/error?code=700226"}`,
		code:   "AADSTS700226",
		cause:  "not an app-only managed identity token",
		fix:    "user-assigned identity the federated credential trusts",
	},
}

// TestDiagnoseEntraReplies serves replies Entra really sent, from a plain TLS
// server standing in for login.microsoftonline.com, to the real
// azidentity.ClientAssertionCredential a Source makes, and checks the
// diagnosis of each.
func TestDiagnoseEntraReplies(t *testing.T) {
	for _, tt := range entraReplies {
		t.Run(tt.name, func(t *testing.T) {
			const tenant = "4a6e1d3b-2c5f-4e7a-9b8c-0d1e2f3a4b5c"
			var want struct {
				TraceID       string `json:"trace_id"`
				CorrelationID string `json:"correlation_id"`
			}
			if err := json.Unmarshal([]byte(tt.body), &want); err != nil {
				t.Fatalf("body of %s: %v", tt.source, err)
			}
			var ts *httptest.Server
			reply := func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}
			ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				authority := ts.URL + "/" + tenant
				switch {
				case r.Method == http.MethodGet && r.URL.Path == "/"+tenant+"/v2.0/.well-known/openid-configuration":
					if tt.discovery {
						reply(w)
						return
					}
					w.Header().Set("Content-Type", "application/json; charset=utf-8")
					_ = json.NewEncoder(w).Encode(map[string]any{
						"token_endpoint":         authority + "/oauth2/v2.0/token",
						"authorization_endpoint": authority + "/oauth2/v2.0/authorize",
						"jwks_uri":               authority + "/discovery/v2.0/keys",
						"issuer":                 authority + "/v2.0",
					})
				case r.Method == http.MethodPost && r.URL.Path == "/"+tenant+"/oauth2/v2.0/token":
					reply(w)
				default:
					t.Errorf("unexpected request %s %s", r.Method, r.URL)
					http.NotFound(w, r)
				}
			}))
			defer ts.Close()

			assertion := tokenFunc(func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
				return azcore.AccessToken{Token: "managed-identity-token"}, nil
			})
			src := tenantauth.New(assertion, tenantauth.Options{
				BridgeAppClientID: "app",
				AuthorityHost:     ts.URL + "/",
				ExchangeAudience:  "api://AzureADTokenExchange",
				ClientOptions:     azcore.ClientOptions{Transport: ts.Client()},
			})
			cred, err := src.For(tenant)
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphScope}})
			err = src.Diagnose(tenant, err)
			var e *tenantauth.Error
			if !errors.As(err, &e) {
				t.Fatalf("Diagnose = %v (%T), want *tenantauth.Error", err, err)
			}
			if e.Code != tt.code || !strings.Contains(e.Cause, tt.cause) || !strings.Contains(e.Fix, tt.fix) {
				t.Errorf("Diagnose = code %s, cause %q, fix %q; want %s, a cause saying %q, a fix saying %q",
					e.Code, e.Cause, e.Fix, tt.code, tt.cause, tt.fix)
			}
			if e.TraceID != want.TraceID || e.CorrelationID != want.CorrelationID {
				t.Errorf("Diagnose ids = %s, %s; want the reply's %s, %s", e.TraceID, e.CorrelationID, want.TraceID, want.CorrelationID)
			}
			if tt.code == "AADSTS700016" && e.ConsentURL != ts.URL+"/"+tenant+"/adminconsent?client_id=app" {
				t.Errorf("ConsentURL = %q, want the tenant's admin-consent URL", e.ConsentURL)
			}
			if msg := e.Explain(); !strings.HasPrefix(msg, tt.code+": ") {
				t.Errorf("Explain() = %q, want it to start with the code", msg)
			}
		})
	}
}
