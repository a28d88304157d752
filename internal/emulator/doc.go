// Package emulator is a local stand-in for the Microsoft services tenantreport talks to: the App Service
// managed-identity endpoint, Microsoft Entra ID (OIDC discovery, keys and the v2.0 token endpoint) and Microsoft
// Graph v1.0 for every report section. It serves over TLS with its own CA, signs real JWTs, and enforces the rules,
// limits and failures of Entra and Graph, so the real azidentity and msgraph-sdk-go clients run against it
// unchanged and a test or benchmark that passes here predicts what happens against real tenants. The demo and
// emulate subcommands and the end-to-end tests use it; the product itself never imports it.
//
// # Serving
//
// [Start] listens on a loopback port and returns a [Running] with its URL, its CA certificate, an [http.Client]
// that trusts only that CA and reaches only the emulator, and [Running.Env], the settings that point the product
// at it. [Server] is the bare [http.Handler]; [Server.Transport] serves it in memory at [InMemoryURL], which is
// how tests run it inside a testing/synctest bubble, where latency, Retry-After waits and budget windows are
// virtual:
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
//	GET  /{tenant}/discovery/v2.0/keys                              JWKS (RSA keys, RS256; the first signs every token)
//	POST /{tenant}/oauth2/v2.0/token                                client_credentials with a client_assertion
//	GET  /v1.0/…                                                    Graph, the collections below
//	POST /v1.0/$batch                                               Graph JSON batching, at most 20 requests
//	GET  /_emulator/metrics, /_emulator/expect                      admin: [Metrics] and [World.ExpectTenant] as JSON
//
// Graph collections, the application permissions that grant each (any one; a ReadWrite variant counts too), and
// the throttle family each draws on besides the global one:
//
//	collection                                               permission                           family (RU)
//	/organization                                            Organization.Read.All, Directory.Read.All  directory (1)
//	/domains                                                 Domain.Read.All, Directory.Read.All        directory (1)
//	/users                                                   User.Read.All, Directory.Read.All          directory (2)
//	/users?$select=…,signInActivity                          + AuditLog.Read.All; premium               + signin
//	/subscribedSkus                                          LicenseAssignment.Read.All, Organization.Read.All, Directory.Read.All  directory (3)
//	/roleManagement/directory/roleAssignments[?$expand=principal]  RoleManagement.Read.Directory, RoleManagement.Read.All, Directory.Read.All  directory (1)
//	/roleManagement/directory/roleDefinitions                same                                 directory (1)
//	/reports/authenticationMethods/userRegistrationDetails   AuditLog.Read.All; premium           reports
//	/devices                                                 Device.Read.All, Directory.Read.All  directory (1)
//	/identity/conditionalAccess/policies                     Policy.Read.All, Policy.ReadWrite.ConditionalAccess  conditionalAccess
//	/applications                                            Application.Read.All, Directory.Read.All, Application.ReadWrite.OwnedBy  directory (2); + keyCredentials when $select names it
//	/servicePrincipals                                       same                                 directory (1); + keyCredentials when $select names it
//	/security/secureScores                                   SecurityEvents.Read.All              secureScore
//	/users/$count, /devices/$count, /applications/$count, /servicePrincipals/$count
//	                                                         the collection's                     directory (the collection's)
//
// A Graph request is checked in this order: a bearer token the emulator issued for a known tenant, Graph's
// audience, current (401 InvalidAuthenticationToken otherwise; the token's tid picks the tenant); a tenant outage
// (503); the throttle budgets (429); each permission group (403 Authorization_RequestDenied); Entra ID P1/P2 for
// premium reads (403 Authentication_RequestFromNonPremiumTenantOrB2CTenant); the query (400); injected faults.
// An unknown name in [QuirksHeader] is a 400 after the token check.
//
// # Graph details
//
// Entities have the shapes the Graph documentation shows. Without $select, /users returns Graph's default property
// set (businessPhones, displayName, givenName, jobTitle, mail, mobilePhone, officeLocation, preferredLanguage,
// surname, userPrincipalName, id) and roleAssignments omit principal; other collections return every property
// the emulator models. With $select exactly the selected properties plus id come back, and an unknown property
// is a 400. Paged collections (users, roleAssignments, userRegistrationDetails, devices, applications,
// servicePrincipals) default to 100 per page and take $top 1–999 (larger or smaller is 400
// Request_UnsupportedQuery); with signInActivity a page holds at most 500 users whatever $top asks. Pages link with
// an absolute @odata.nextLink that keeps $select, $expand and $top and carries an opaque $skiptoken bound to the
// tenant. organization, domains, subscribedSkus, roleDefinitions and conditionalAccess policies come in one
// response and reject $top; secureScores holds 90 daily scores, newest first, and honours $top without paging.
// Query options the emulator does not implement ($filter, $orderby, $search, $count, $skip, an $expand other than
// roleAssignments' principal) are a 400 rather than silently ignored.
//
// The /$count segment of users, devices, applications and servicePrincipals answers 200 with Content-Type
// text/plain and the bare number of items (a recorded tenant: the items its files hold). It is an advanced query:
// without the header ConsistencyLevel: eventual Graph answers 400 Request_BadRequest "$count is not currently
// supported.", and so does the emulator, after the permission check like any query error. It costs the
// collection's base resource units (Graph's table has no row for it), counts in [Metrics] under its own route
// ("graph /users/$count"), works inside $batch (give the header on the inner request), and takes no query options. Unknown paths are 404
// Request_ResourceNotFound. Gzip request bodies (kiota compresses $batch) are accepted.
//
// # Quirks
//
// Some of Graph's behaviour is reported by its users but not documented for v1.0, or the documentation promises
// less than Graph accepts. The emulator serves what Graph is known to accept unless a request asks, in the
// [QuirksHeader] header, for one of these behaviours, so a test can show the product copes with both:
//
//	strict-query-options                  a query option the collection's API page does not list is 400
//	                                      Request_UnsupportedQuery: userRegistrationDetails lists only $filter
//	                                      ("List userRegistrationDetails", learn.microsoft.com/graph/api/
//	                                      authenticationmethodsroot-list-userregistrationdetails), so $select and
//	                                      $top are refused and its nextLink carries only $skiptoken
//	premium-check-needs-directory-read    userRegistrationDetails answers 403
//	                                      Authentication_ApplicationHasNoDirectoryReadAccess ("Failed to do premium
//	                                      license check from ADGraph") unless the token has Directory.Read.All, as
//	                                      reported for the beta reports APIs (microsoft-graph-docs issues #4818 and
//	                                      #12911, where Microsoft called it a known issue)
//
// [World.ExpectSection] does not know about quirks: it says what a request without the header gets.
//
// $batch runs each inner request as if it were sent alone (authorization, throttling and metrics included;
// latency and faults apply to the batch itself) and embeds its status, headers and body; an inner 429 stays in the
// batch with its headers, and nobody retries it for you.
//
// # Identity rules
//
// The managed-identity endpoint serves a user-assigned identity to a request that names it (client_id,
// principal_id or object_id): the Function App's, or a caller's (see Callers and the API below). It serves the
// world's system-assigned identity to one that names none; a world has no system-assigned identity unless it
// declares one, and then such a request is a 400 ("Unable to load the proper Managed Identity."), as on App Service.
// Its tokens have iss https://login.microsoftonline.com/{tenant}/v2.0 and tid of the identity's tenant (the home
// tenant, or the caller's), sub and oid = the identity's object id, azp and appid = its client id, aud = the
// requested resource (api://AzureADTokenExchange), idtyp app and xms_mirid naming the identity. Every token is a JWT
// signed RS256, as Entra signs, with the kid of the key the JWKS publishes first (kty RSA, n, e, x5c, x5t, issuer);
// [Server.RotateKey] publishes a new key before the old one, and [Server.SignToken] signs any claims, for tests of
// token validators. The token endpoint checks, in order, and answers in Entra's v2.0 error shape (error,
// error_description starting "AADSTSnnn: " and ending with trace id, correlation id and timestamp, error_codes,
// timestamp, trace_id, correlation_id, error_uri):
//
//	AADSTS90002    the tenant in the path exists (by id or initial domain)
//	AADSTS70003    grant_type is client_credentials; 900144 for missing parameters
//	AADSTS700016   the client is the bridge app or a caller's app
//	AADSTS7000218  a client_assertion is present; 50027 malformed; 50013 not signed by a key the JWKS publishes
//	AADSTS700024   the assertion is current
//	AADSTS700229   an Entra-issued assertion is app-only
//	AADSTS700226   an Entra-issued assertion is a managed identity's token (has xms_mirid)
//	AADSTS700236   the assertion's issuer tenant is the tenant where the client app is registered
//	AADSTS70021    the app has a federated identity credential at all (401 invalid_client, as Entra has since 2023)
//	AADSTS700211   one of the app's FICs matches the issuer, then 700213 the subject (the MI's object id; 7002138
//	               when only its case differs), then 700212 the audience
//	AADSTS700016   the app has a service principal in the target tenant: the bridge app where it is registered and
//	               where admin consent was given, a caller's app only where it is registered and in the home tenant
//	AADSTS7000112  the bridge app's service principal there is enabled
//	AADSTS53003    no Conditional Access policy for workload identities blocks the bridge app
//	AADSTS1002012  the scope ends in /.default; 500011 the resource is Graph, or the API in the home tenant
//	AADSTS501051   400 invalid_grant: the API requires app role assignment and the client's service principal
//	               holds none of its roles ("Application '{appId}'({name}) is not assigned to a role for the
//	               application '{resource}'(tenantreport API).")
//
// Graph tokens carry iss https://sts.windows.net/{tid}/, aud https://graph.microsoft.com, tid, oid and sub = the
// client app's service principal in that tenant, appid, roles = the tenant's grants to the bridge app (a caller's
// app has none, so Graph answers it 403), exp, and xms_cc when the client asked for CAE.
//
// # Callers and the API
//
// A world may declare tenantreport's own [API], an app registration in the home tenant, and [Caller]s: workloads in
// other tenants (or the home one), each with its own user-assigned managed identity and a multi-tenant client app
// registered in its tenant whose FIC trusts that identity. A caller gets a token from its managed identity
// (aud api://AzureADTokenExchange, issued by its tenant), presents it as client_assertion at the home tenant's
// token endpoint with its app's client_id and scope <app ID URI>/.default ({clientId}/.default and
// api://{clientId}/.default also name the API), and gets an app-only access token for the API, issued by the home
// tenant, in the shape the API's accessTokenVersion asks for:
//
//	v1 (1 or 0)  aud = the identifier the scope named (app ID URI or client id), iss https://sts.windows.net/{home}/,
//	             idp = iss, appid = the caller's app, appidacr "2", ver "1.0", and a v1 header's x5t
//	v2           aud = the API's client id, iss https://login.microsoftonline.com/{home}/v2.0, azp = the caller's
//	             app, azpacr "2", ver "2.0"
//	both         idtyp app, oid = sub = the app's service principal in the home tenant (Caller.ServicePrincipalID),
//	             tid = home, roles = the API's app roles assigned to it (no roles claim when none), iat, nbf, exp
//	             (3599 s), aio, uti, rh, and xms_cc when the client asked for CAE
//
// The Graph emulator refuses them (their audience is not Graph's). [Metrics] counts them apart from Graph tokens.
//
// # Throttling
//
// Every budget of [DefaultBudgets] is on unless the world says otherwise: token buckets per app per tenant and per
// app across tenants, refilled continuously over the budget's window. Directory requests cost resource units (the
// base cost above, −1 with $select, +1 with $expand, −1 with $top under 20, at least 1) against S/M/L tenant budgets
// by user count; the other families count requests; secure score also caps requests in flight at 4. A throttled
// request gets 429 TooManyRequests in Graph's error shape with x-ms-throttle-scope
// ({Tenant_Application|Application}/Read/{appId}/{tenantId}), x-ms-throttle-information (ResourceUnitLimitExceeded,
// RequestLimitExceeded or ConcurrencyLimitExceeded) and Retry-After in whole seconds, at least 1 — except the
// conditionalAccess family, which sends no Retry-After, as Graph documents. Under a time scale the 429 also carries
// x-ms-retry-after-ms, the exact scaled wait (azcore reads that header; kiota reads only whole seconds). Directory
// responses carry x-ms-resource-unit, and x-ms-throttle-limit-percentage once more than 80% of the tenant budget
// is used.
//
// Where the numbers come from. Documented on "Microsoft Graph service-specific throttling limits"
// (learn.microsoft.com/graph/throttling-limits): the global 130,000 requests per 10 s per app; the identity and
// access (directory) budgets, S 3,500 / M 5,000 / L 8,000 resource units per 10 s per app per tenant (S under 50
// users, M 50–500, L over 500) and 150,000 per 20 s per app, with the base costs GET users 2, GET applications 2,
// GET subscribedSkus 3 and 1 for any path the table does not list (organization, domains, devices, roleManagement,
// servicePrincipals), and the $select/$expand/$top adjustments; the identity and access reports limit, 5 requests
// per 10 s per app per tenant; and the identity protection and conditional access limit, 1 request per second per
// tenant for all apps, answered without Retry-After (modelled per app per tenant, the same for one app). Carried
// from DESIGN.md §5 and not found in the copies of that page checked when this was written, so keep them
// adjustable: signInActivity's 10 requests per minute (per tenant and across tenants; microsoft-graph-docs-contrib
// issue #8653 reports the 10 per minute), the reports family's 122 requests per 10 s across tenants, and the
// keyCredentials and secureScore budgets. Assumed: that userRegistrationDetails draws on the reports budget (the
// reports limit lists its resources, and userRegistrationDetails is not among them), and that conditional access
// policies can be read without Entra ID P1/P2 (the emulator serves them to every tenant that grants
// Policy.Read.All).
//
// # Worlds
//
// A [World] declares what is served. [LoadWorld] reads it from JSON (unknown fields are errors);
// [LoadWorldFile] also resolves and checks recorded folders relative to the file; [OpenWorld] accepts a file or
// the name of a sample world that ships in worlds/ ([SampleWorldNames]: demo, msp50, large200k, recorded,
// latency200, msp1000). [SampleWorld] is the demo world, also in testdata/demo.json. A world, with every field:
//
//	{
//	  "homeTenantId": "6f1c2a9e-…",                 // issues the managed identity's tokens
//	  "managedIdentity": {"clientId": "0d4f5b6a-…", "objectId": "5e6f7a8b-…"},
//	  "systemAssignedIdentity": null,                // {"clientId", "objectId"}: served when no identity is named
//	  "bridgeApp": {
//	    "clientId": "3a7b9c1d-…",
//	    "tenantId": "",                              // where the app is registered; "" = home; another → AADSTS700236
//	    "federatedCredentials": [{"name": "tenantreport-function-mi",
//	      "issuer": "https://login.microsoftonline.com/6f1c2a9e-…/v2.0",
//	      "subject": "5e6f7a8b-…", "audiences": ["api://AzureADTokenExchange"]}]
//	  },
//	  "seed": 20260101,                              // seeds tenants without their own seed, and the signing key
//	  "epoch": "2026-03-01",                         // anchors relative dates; "" = the day the server starts
//	  "timeScale": 0.01,                             // compresses latency, slowBy, budget windows, Retry-After
//	  "throttling": {"disabled": false, "budgets": [ // replace a default by family + scope (+ size), or add one
//	    {"family": "signin", "scope": "tenant", "limit": 5, "window": "10s"}]},
//	  "latency": {"median": "60ms", "p99": "400ms"}, // or {"fixed": "50ms"}; a tenant's own replaces it
//	  "faults": {"serverErrors": 0.01, "resets": 0.001, "malformed": 0.001, "slow": 0.01, "slowBy": "30s", "outage": false,
//	             "outageFor": "0s"},                // 503 to every request for this long, then recovered
//	  "tenants": [{
//	    "id": "2b8e4f1a-…", "displayName": "Contoso",
//	    "domain": "contoso.onmicrosoft.com",         // initial domain; default from the display name
//	    "domains": ["contoso.com"],                  // more verified domains
//	    "appProvisioned": true,                      // false → AADSTS700016 (admin consent pending)
//	    "servicePrincipalDisabled": false,           // true → AADSTS7000112
//	    "blockedByConditionalAccess": false,         // true → AADSTS53003
//	    "tokenOutage": false,                        // true → 503 AADSTS90033 (Entra down for the tenant)
//	    "grants": null,                              // Graph app roles granted here; null = KnownPermissions(), [] = none
//	    "premium": null,                             // Entra ID P1/P2; null = from licenses, or true
//	    "licenses": [{"sku": "SPE_E3", "enabled": 240, "consumed": 214}],  // KnownSKUs(); null = derived
//	    "users": 250, "guestRatio": 0.12, "disabledRatio": 0.08,
//	    "mfaRatio": 0.8, "inactiveRatio": 0.15,      // defaults when null
//	    "admins": 5, "devices": 180, "conditionalAccessPolicies": 5,
//	    "apps": 6, "expiredCredentials": 2, "expiringCredentials": 2,
//	    "secureScore": {"current": 41.5, "max": 78}, // null = derived from the seed
//	    "seed": 101,
//	    "recorded": "",                              // a folder of Graph responses instead of synthetic data
//	    "latency": null, "faults": null              // replace the world's for this tenant
//	  }],
//	  "generate": [{                                 // many tenants at once, appended to tenants when loaded
//	    "count": 600, "namePrefix": "Small",         // "Small 001" … "Small 600", ids and seeds from seed + prefix
//	    "users": {"min": 5, "max": 300},             // spread log-uniformly: many small, few large
//	    "premiumRatio": 0.5,                         // this share has Entra ID P1/P2 (E3), the rest Business Standard
//	    "guestRatio": {"min": 0.02, "max": 0.25}, "disabledRatio": {"min": 0.02, "max": 0.1},
//	    "mfaRatio": {"min": 0.4, "max": 0.98}, "inactiveRatio": null,  // null = the tenant defaults
//	    "admins": {"min": 1, "max": 4}, "devicesPerUser": 0.6,
//	    "apps": {"min": 0, "max": 5}, "conditionalAccessPolicies": {"min": 0, "max": 4},
//	    "latency": null, "faults": null              // replace the world's for these tenants
//	  }],
//	  "api": {                                       // tenantreport's own API, in the home tenant; null = none
//	    "clientId": "8c1d2e3f-…",
//	    "identifierUri": "api://tenantreport",       // "" = api://{clientId}
//	    "appRoles": ["Reports.Read.All", "Reports.Read.Tenant", "Reports.Run"],
//	    "assignmentRequired": true,                  // a client without a role → AADSTS501051
//	    "accessTokenVersion": 2                      // 1 (or 0) = v1.0 tokens, 2 = v2.0
//	  },
//	  "callers": [{                                  // workloads in other tenants that call the API
//	    "name": "Contoso automation",
//	    "tenantId": "2b8e4f1a-…",                    // its own tenant: the home tenant or one of tenants
//	    "managedIdentity": {"clientId": "…", "objectId": "4d5e6f70-…"},
//	    "app": {"clientId": "…", "tenantId": "",     // "" = registered in the caller's tenant
//	      "federatedCredentials": [{"name": "automation-mi",
//	        "issuer": "https://login.microsoftonline.com/2b8e4f1a-…/v2.0",
//	        "subject": "4d5e6f70-…", "audiences": ["api://AzureADTokenExchange"]}]},
//	    "servicePrincipalId": "",                    // its app's service principal in the home tenant; "" = derived
//	    "roles": ["Reports.Read.Tenant"]             // API app roles assigned to that service principal
//	  }]
//	}
//
// Durations are Go duration strings. Each field of a generated tenant is drawn from its group's range with a
// generator seeded by the world seed, the group's name prefix and the tenant's number, so a world yields the same
// tenants on every load ([TenantGroup] says how). Ratios are fractions rounded to whole users, spread over the directory by
// seeded permutations so that totals are exact. Admins are enabled members, each holding one directory role (the
// first a Global Administrator). Each app has a client secret and every third one a certificate; expired
// credentials ended 2–400 days before the epoch and expiring ones end 2–28 days after it, so a clock on the
// epoch's day classifies them the same way. Half the inactive users never signed in; the others last signed in
// 120 days or more before the epoch, active ones within 45 days.
//
// # Recorded tenants
//
// A tenant with "recorded" serves Graph JSON files instead of synthetic data: <folder>/<collection path>.json,
// e.g. users.json, subscribedSkus.json, roleManagement/directory/roleAssignments.json,
// reports/authenticationMethods/userRegistrationDetails.json, security/secureScores.json. Each file is a Graph
// collection response ({"value": […]}; other members such as a recorded @odata.nextLink are ignored) or a bare
// array; further pages of the same recording go in users.2.json, users.3.json and so on. Objects are served as
// recorded, properties in file order, paged by the emulator with its own page sizes, $select applied (any property
// the file holds may be selected). A collection without a file is empty, except organization, which is
// synthesized. The user count comes from users.json. worlds/recorded.json is an example.
//
// # Determinism
//
// Synthetic objects are pure functions of the tenant seed and their position, generated page by page (a tenant of
// millions costs no memory). The same world and epoch give byte-identical Graph bodies; faults and log-normal
// latencies are drawn from a per-tenant generator, so they replay for the same request order. The signing key is
// derived from the world (seed and home tenant; a rotated key also from the number of rotations) because MSAL caches managed-identity tokens for the whole process,
// keyed by client id and resource: a second emulator for the same identity must accept the first one's cached
// assertion. Give worlds with different seeds different managed identities if one process uses both; tests that
// count identity tokens give each world an identity of its own.
//
// # Observability and expectations
//
// [Server.Metrics] (and GET /_emulator/metrics) counts requests per route and tenant, tokens issued (Graph, API and
// managed identity apart), token errors by AADSTS code, 429s by family and scope and by route, injected faults, and
// peak concurrency per tenant and overall. [World.Expect] returns the /users totals; [World.ExpectTenant] counts everything a tenant serves
// (inactive users, MFA registrations, admins without MFA, unused licences, expired and expiring credentials,
// secure score…); [World.ExpectSection] says how many rows a report section yields for a tenant, or why the
// section is not available (token exchange failure, the least-privileged permission not granted, no Entra ID
// P1/P2), exactly as the emulator will answer.
package emulator
