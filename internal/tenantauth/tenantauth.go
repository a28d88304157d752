// Package tenantauth gets Microsoft Graph credentials for many Entra tenants
// without a secret.
//
// # Flow
//
// The Function App's managed identity gets a token for the token-exchange
// audience (api://AzureADTokenExchange in the public cloud). That token is the
// client assertion of the multi-tenant bridge app, registered in the managed
// identity's home tenant with a federated identity credential that trusts the
// identity. Presenting the assertion at each target tenant's token endpoint
// yields a token for that tenant, once the tenant's admin has consented to the
// bridge app.
//
// [Source] holds one [azidentity.ClientAssertionCredential] per tenant, made
// on first use and reused, so tokens are cached and refreshed by azidentity.
// A credential shared across tenants would serialise their token fetches.
package tenantauth

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Options configure a [Source].
type Options struct {
	// BridgeAppClientID is the client id of the multi-tenant app that trusts
	// the managed identity.
	BridgeAppClientID string
	// ConsentRedirectURI is the redirect URI registered on the bridge app,
	// where admin consent sends the admin back ("": none in consent URLs).
	ConsentRedirectURI string
	// AuthorityHost is the Entra host, e.g. https://login.microsoftonline.com/
	// (https://login.microsoftonline.us/, https://login.chinacloudapi.cn/).
	// Diagnoses name it as the federated credential's issuer.
	AuthorityHost string
	// ExchangeAudience is the audience of the assertion, e.g.
	// api://AzureADTokenExchange (…USGov, …China). Diagnoses name it as the
	// federated credential's audience.
	ExchangeAudience string
	// ClientOptions carry the transport and retry policy to azidentity.
	ClientOptions azcore.ClientOptions
	// Diagnoses replace the built-in diagnoses of their AADSTS codes, which
	// speak of the bridge app reading a customer tenant: a caller of
	// tenantreport's own API is another app asking another resource.
	Diagnoses map[int]Diagnosis
}

// Source hands out one credential per target tenant. It is safe for
// concurrent use.
type Source struct {
	assertion azcore.TokenCredential
	opts      Options

	mu    sync.Mutex
	creds map[string]azcore.TokenCredential
}

// ErrNoClientID is returned by [NewManagedIdentity] for an empty client id:
// without one the identity endpoint serves the system-assigned identity, whose
// tokens no federated credential can trust.
var ErrNoClientID = errors.New("tenantauth: managed identity: no client id: Entra accepts only user-assigned managed identities as federated credentials")

// NewManagedIdentity returns the credential of the Function App's
// user-assigned managed identity clientID, which every token request names.
// An empty clientID is [ErrNoClientID]: "Only user-assigned managed
// identities can be used as a federated credential for apps"
// (learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity).
func NewManagedIdentity(clientID string, o azcore.ClientOptions) (azcore.TokenCredential, error) {
	if clientID == "" {
		return nil, ErrNoClientID
	}
	c, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: o,
		ID:            azidentity.ClientID(clientID),
	})
	if err != nil {
		return nil, fmt.Errorf("tenantauth: managed identity: %w", err)
	}
	return c, nil
}

// New returns a Source that uses tokens of assertion (the managed identity) as
// client assertions of the bridge app.
func New(assertion azcore.TokenCredential, o Options) *Source {
	return &Source{assertion: assertion, opts: o, creds: make(map[string]azcore.TokenCredential)}
}

// For returns the credential of tenantID, creating it on first use.
func (s *Source) For(tenantID string) (azcore.TokenCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.creds[tenantID]; ok {
		return c, nil
	}
	co := s.opts.ClientOptions
	co.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: s.opts.AuthorityHost}
	c, err := azidentity.NewClientAssertionCredential(tenantID, s.opts.BridgeAppClientID, s.getAssertion,
		&azidentity.ClientAssertionCredentialOptions{
			ClientOptions: co,
			// Without this MSAL asks login.microsoftonline.com which hosts
			// are authorities, whatever AuthorityHost says.
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		return nil, fmt.Errorf("tenantauth: tenant %s: %w", tenantID, err)
	}
	s.creds[tenantID] = c
	return c, nil
}

// CheckManagedIdentity gets the managed identity's assertion token, the
// step every tenant's exchange depends on.
func (s *Source) CheckManagedIdentity(ctx context.Context) error {
	_, err := s.getAssertion(ctx)
	return err
}

// getAssertion returns the managed identity's token. azidentity caches it
// until shortly before it expires, so a run over many tenants asks the
// identity endpoint once.
func (s *Source) getAssertion(ctx context.Context) (string, error) {
	tok, err := s.assertion.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.opts.ExchangeAudience + "/.default"}})
	if err != nil {
		return "", &ManagedIdentityError{Err: err}
	}
	return tok.Token, nil
}
