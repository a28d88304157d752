// Package emulator is a local stand-in for the Microsoft services tenantreport talks to: the App Service
// managed-identity endpoint, Microsoft Entra ID (OIDC discovery, keys and the v2.0 token endpoint) and Microsoft
// Graph v1.0. It serves over TLS with its own CA, signs real JWTs, and enforces the rules Entra and Graph enforce,
// so the real azidentity and msgraph-sdk-go clients run against it unchanged. The demo and emulate subcommands and
// the end-to-end tests use it; the product itself never imports it.
//
// # Serving
//
// [Start] listens on a loopback port and returns a [Running] with its URL, its CA certificate, an [http.Client]
// that trusts only that CA and reaches only the emulator, and [Running.Env], the settings that point the product
// at it. [Server] is the bare [http.Handler] for in-process use.
//
//	r, err := emulator.Start(emulator.SampleWorld())
//	if err != nil { ... }
//	defer r.Close()
//	cred, _ := azidentity.NewClientAssertionCredential(tenantID, bridgeClientID, getAssertion,
//		&azidentity.ClientAssertionCredentialOptions{
//			ClientOptions: azcore.ClientOptions{
//				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: r.URL + "/"},
//				Transport: r.Client(),
//			},
//			DisableInstanceDiscovery: true, // otherwise MSAL asks login.microsoftonline.com
//		})
//
// # Routes
//
//	GET  /msi/token?api-version=2019-08-01&resource=…[&client_id=…]   App Service managed identity (X-IDENTITY-HEADER)
//	GET  /{tenant}/v2.0/.well-known/openid-configuration            OIDC discovery
//	GET  /{tenant}/discovery/v2.0/keys                              JWKS (one ES256 key signs every token)
//	POST /{tenant}/oauth2/v2.0/token                                client_credentials with a client_assertion
//	GET  /v1.0/organization, /v1.0/users                            Graph, with $select, $top and @odata.nextLink
//
// {tenant} is a tenant id or initial domain. The managed identity's tokens have iss
// https://login.microsoftonline.com/{home}/v2.0, sub and oid = the identity's object id, and aud = the requested
// resource (api://AzureADTokenExchange). The token endpoint checks, in order: the tenant exists (AADSTS90002), the
// client is the bridge app (700016), the assertion is signed by the emulator (50013) and current (700024), is an
// app-only token (700229) from the tenant where the app is registered (700236), matches a federated credential's
// issuer (700211), subject (700213) and audience (700212), the app is provisioned in the tenant (700016), and the
// scope is Graph's /.default (1002012, 500011). Graph tokens carry tid, an oid per tenant, appid and roles = the
// tenant's grants. Graph answers 401 InvalidAuthenticationToken unless the bearer token is one the emulator issued,
// and 403 Authorization_RequestDenied when its roles lack the route's permission.
//
// # Worlds
//
// A [World] declares what is served. [LoadWorld] reads it from JSON (unknown fields are errors); [SampleWorld] is
// the demo world, also in testdata/demo.json:
//
//	{
//	  "homeTenantId": "6f1c2a9e-3b4d-4e8f-9a0b-1c2d3e4f5a6b",
//	  "managedIdentity": {"clientId": "0d4f5b6a-…", "objectId": "5e6f7a8b-…"},
//	  "bridgeApp": {
//	    "clientId": "3a7b9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d",
//	    "tenantId": "",                       // where the app is registered; "" = home. Another tenant → AADSTS700236
//	    "federatedCredentials": [{"name": "tenantreport-function-mi",
//	      "issuer": "https://login.microsoftonline.com/6f1c2a9e-3b4d-4e8f-9a0b-1c2d3e4f5a6b/v2.0",
//	      "subject": "5e6f7a8b-…", "audiences": ["api://AzureADTokenExchange"]}]
//	  },
//	  "tenants": [
//	    {"id": "2b8e4f1a-…", "displayName": "Contoso", "users": 250, "guestRatio": 0.12, "disabledRatio": 0.08, "seed": 101},
//	    {"id": "9c5d7e3f-…", "displayName": "Fabrikam", "users": 1200, "grants": ["User.Read.All", "Organization.Read.All"]},
//	    {"id": "e4a1b2c3-…", "displayName": "Northwind Traders", "users": 80, "appProvisioned": false}
//	  ],
//	  "seed": 20260101
//	}
//
// Tenant fields: domain (default: the display name's letters and digits + ".onmicrosoft.com"), appProvisioned
// (default true; false = admin consent never given, AADSTS700016), grants (default: every permission in
// [KnownPermissions]; [] = none), users, guestRatio and disabledRatio (fractions, rounded to whole users), seed
// (default: derived from the world seed and the tenant's position).
//
// # Determinism
//
// Synthetic users are a pure function of the tenant seed and their position, generated page by page (a tenant of
// millions costs no memory), and createdDateTime is anchored to the seed, not the clock. The same world gives
// byte-identical Graph bodies; [World.Expect] returns the totals /users serves. The signing key is derived from
// the world (seed, home tenant, managed identity) because MSAL caches managed-identity tokens for the whole
// process: a second emulator for the same identity must accept the first one's cached assertion.
//
// # Graph details
//
// /users without $select returns Graph's default property set (businessPhones, displayName, givenName, jobTitle,
// mail, mobilePhone, officeLocation, preferredLanguage, surname, userPrincipalName, id); with $select it returns
// exactly the selected properties plus id, and an unknown property is a 400. $top defaults to 100 and must be
// 1–999. Pages link with an absolute @odata.nextLink carrying an opaque $skiptoken. Query options the emulator does
// not implement ($filter, $orderby, $search, $expand, $count) are rejected with a 400 rather than ignored. Unknown
// paths are 404 Request_ResourceNotFound.
package emulator
