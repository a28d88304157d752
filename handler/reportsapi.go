package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/settings"
	"github.com/tenantreport/tenantreport/internal/tenantauth"
)

// apiClient is the caller's side of the Entra-authenticated API: the
// second source design end to end. Its token comes the secretless way —
// the host's managed identity is the federated credential of the caller's
// client app, exchanged in the API's tenant for the API's scope.
type apiClient struct {
	base  *url.URL
	scope string
	http  *http.Client
	cred  azcore.TokenCredential
	// diagnose explains a failed token request (AADSTS codes).
	diagnose func(error) error
}

// apiTimeout bounds a request to the API, not a download's body.
const apiTimeout = time.Minute

func newAPIClient(from *source, getenv func(string) string) (*apiClient, error) {
	if from.dir != "" {
		return nil, errors.New("--dir and --api: read one or the other")
	}
	base, err := url.Parse(strings.TrimSuffix(from.api, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("--api %.120q: want the API's URL, such as https://<app>.azurewebsites.net/api/entra/reports", from.api)
	}
	if base.User != nil || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("--api: want a URL without credentials, query or fragment, got %s", base.Redacted())
	}
	res, ok := strings.CutSuffix(from.scope, "/.default")
	if !ok || res == "" {
		return nil, fmt.Errorf("--scope %.120q: want the API app's ID URI followed by /.default, such as api://<app id>/.default", from.scope)
	}
	if !settings.IsGUID(from.apiTenant) {
		return nil, fmt.Errorf("--api-tenant %.80q: want the id of the API's tenant (a GUID)", from.apiTenant)
	}
	if !settings.IsGUID(from.clientID) {
		return nil, fmt.Errorf("--client-id %.80q: want the client id of the caller's app (a GUID)", from.clientID)
	}
	identity := from.identity
	if identity == "" {
		identity = getenv(settings.KeyMIClientID)
	}
	if !settings.IsGUID(identity) {
		return nil, fmt.Errorf("--identity %.80q: want the client id of this host's user-assigned managed identity (a GUID), or set %s", identity, settings.KeyMIClientID)
	}
	cl, err := settings.LoadCloud(getenv)
	if err != nil {
		return nil, err
	}
	tr, err := newTransport(getenv(settings.KeyCAFile))
	if err != nil {
		return nil, err
	}
	co := azcore.ClientOptions{Transport: &http.Client{Transport: tr}}
	mi, err := tenantauth.NewManagedIdentity(identity, co)
	if err != nil {
		return nil, err
	}
	src := tenantauth.New(mi, tenantauth.Options{
		BridgeAppClientID: from.clientID,
		AuthorityHost:     cl.AuthorityHost,
		ExchangeAudience:  cl.ExchangeAudience,
		ClientOptions:     co,
		Diagnoses:         callerDiagnoses(from, cl.AuthorityHost),
	})
	cred, err := src.For(strings.ToLower(from.apiTenant))
	if err != nil {
		return nil, err
	}
	return &apiClient{
		base: base, scope: from.scope, http: &http.Client{Transport: tr}, cred: cred,
		diagnose: func(err error) error { return src.Diagnose(from.apiTenant, err) },
	}, nil
}

// callerDiagnoses are what the token endpoint's refusals mean for a caller
// of the API: the fixes are the API owner's (role, service principal,
// scope) or the caller's own (its client app's federated credential).
func callerDiagnoses(from *source, authorityHost string) map[int]tenantauth.Diagnosis {
	fic := tenantauth.Diagnosis{
		Cause: "no federated credential of the client app " + from.clientID + " matches this host's managed identity token",
		Fix: "on the client app, in your tenant, add a federated credential with issuer " + strings.TrimSuffix(authorityHost, "/") +
			"/<your tenant id>/v2.0, subject the managed identity's object (principal) id, audience api://AzureADTokenExchange",
	}
	d := map[int]tenantauth.Diagnosis{
		501051: {Cause: "the client app holds no app role of the API", Fix: "ask the API's owner to assign it Reports.Read.Tenant (or Reports.Read.All, Reports.Run) and map it to your tenants"},
		700016: {Cause: "the client app has no service principal in the API's tenant " + from.apiTenant, Fix: "ask the API's owner to create one (az ad sp create --id " + from.clientID + ") and assign it a role"},
		500011: {Cause: "the API's tenant knows no resource named by --scope " + from.scope, Fix: "use the API's application ID URI (API_APP_ID_URI) followed by /.default"},
		700236: {Cause: "the client app is registered in a tenant other than the managed identity's", Fix: "register the client app, with its federated credential, in the managed identity's tenant"},
	}
	for _, code := range []int{70021, 70025, 700211, 700212, 7002121, 700213, 7002137} {
		d[code] = fic
	}
	return d
}

// get sends GET base/path?query with the caller's token. A reply other
// than 2xx is an error naming the status and the API's message.
func (c *apiClient) get(ctx context.Context, path, query string) (*http.Response, error) {
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		return nil, fmt.Errorf("token for %s: %w", c.scope, c.diagnose(err))
	}
	u := c.base.JoinPath(path)
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var body struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		msg := resp.Status
		if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body) == nil && body.Error.Message != "" {
			msg += ": " + body.Error.Message
		}
		return nil, fmt.Errorf("GET %s: %s", u.Redacted(), msg)
	}
	return resp, nil
}

// getJSON decodes the reply to GET base/path into v.
func (c *apiClient) getJSON(ctx context.Context, path, query string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	resp, err := c.get(ctx, path, query)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: the reply is not the API's JSON: %w", c.base.JoinPath(path).Redacted(), err)
	}
	return nil
}

func (c *apiClient) list(ctx context.Context, top int) ([]run.Summary, bool, error) {
	var page struct {
		Runs         []run.Summary `json:"runs"`
		Continuation string        `json:"continuation"`
	}
	err := c.getJSON(ctx, "", "top="+strconv.Itoa(min(top, 500)), &page)
	return page.Runs, page.Continuation != "", err
}

func (c *apiClient) show(ctx context.Context, id string) (run.Record, error) {
	var rec run.Record
	return rec, c.getJSON(ctx, id, "", &rec)
}

// download opens run id's workbook, or tenant's when tenant is not "". The
// file name is the one the API offers, as a base name.
func (c *apiClient) download(ctx context.Context, id, tenant string) (download, error) {
	path, what := id+"/download", fmt.Sprintf("run %s: workbook", id)
	if tenant != "" {
		path, what = id+"/tenants/"+tenant+"/download", fmt.Sprintf("run %s: workbook of tenant %s", id, tenant)
	}
	resp, err := c.get(ctx, path, "")
	if err != nil {
		return download{}, err
	}
	wb := download{body: resp.Body, size: resp.ContentLength, filename: run.DownloadName(id), what: what}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		if name := filepath.Base(params["filename"]); strings.HasSuffix(name, ".xlsx") && !strings.HasPrefix(name, ".") {
			wb.filename = name
		}
	}
	return wb, nil
}
