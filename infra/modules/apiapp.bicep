// The API app: the app registration in the HOME tenant that callers in other tenants get tokens for
// when they call the Entra-authenticated routes (/api/entra/reports, ReportEntra/function.json),
// through the Microsoft Graph Bicep extension (bicepconfig.json), like the bridge app.
//
// It is the mirror of the bridge app. A customer's automation (its own user-assigned managed
// identity, trusted by a FIC on a multi-tenant client app registered in the customer's tenant)
// asks OUR tenant for a token with scope '<identifierUri>/.default'; the handler validates that
// token itself (signature, iss, aud, exp, roles, app-only) and maps the caller to its tenants with
// REPORT_API_CALLERS. Nothing here holds a secret: the app has no credential at all, since it never
// asks for a token, it only receives them.
//
// Why these choices:
// * signInAudience AzureADMyOrg (single tenant). Every token for this API is issued by the home
//   tenant (the caller requests it at <login>/<home tenant>/oauth2/v2.0/token), so the API's service
//   principal only ever needs to exist here. It is the CALLER's client app that must be
//   multi-tenant, so that the MSP can provision its service principal in the home tenant (admin
//   consent, or az ad sp create --id <client app id>) and assign it app roles; a FIC on that app
//   trusts a managed identity of the client app's own tenant only ("If you need to access
//   resources in another tenant, your app registration must be a multitenant application and
//   provisioned into the other tenant",
//   learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity;
//   "Single-tenant apps are only available in the tenant they were registered in",
//   learn.microsoft.com/entra/identity-platform/single-and-multi-tenant-apps). A multi-tenant API
//   app would let any tenant provision it and mint tokens for it under its own issuer, which the
//   handler would then have to reject by iss alone.
// * identifierUris: api://<home tenant id>/<uniqueName>, not api://<appId>. The Graph extension
//   cannot put the app's own appId into the same resource (appId exists only after the create), and
//   the default api://<appId> is NOT registered unless identifierUris names it (known issue,
//   github.com/microsoftgraph/msgraph-bicep-types/issues/239: AADSTS500011). api://<tenantId>/<string>
//   is one of Entra's secure identifier URI patterns, accepted by the default tenant policy that
//   Microsoft has been enabling since mid-2025, and the stricter optional policy accepts any URI
//   on an app that takes v2.0 tokens (learn.microsoft.com/entra/identity-platform/identifier-uri-restrictions).
//   It is known before the deployment, unique in the tenant (uniqueName is), and stable across
//   redeployments. The handler gets it as REPORT_API_APP_ID_URI (output identifierUri).
// * api.requestedAccessTokenVersion 2: v2.0 access tokens, whose iss is <login>/<tenant>/v2.0 and
//   whose aud is always the API's client id (REPORT_API_CLIENT_ID), whatever URI the scope named;
//   and the reason the stricter identifier URI policy lets this app register its URI.
// * appRoles with allowedMemberTypes ['Application'] only: application permissions for workloads.
//   No delegated scope is exposed, so no person's (delegated) token carries a role.
// * optionalClaims idtyp: Entra puts idtyp=app in app-only access tokens only when the resource
//   asks for it; it is "the most accurate way for an API to determine if a token is an app token"
//   (learn.microsoft.com/entra/identity-platform/optional-claims-reference).
// * The service principal has appRoleAssignmentRequired: Entra then issues no token for this API to
//   a client that holds none of its app roles, so an unassigned caller fails at the token endpoint
//   (AADSTS501051) before it ever reaches the handler.
//
// App role assignments: for each caller in `callers` and each of its roles, one
// Microsoft.Graph/appRoleAssignedTo (principal: the caller's service principal in the home tenant,
// which must exist before the deployment). The MSP can as well assign them by hand (README: az rest
// POST /servicePrincipals/<servicePrincipalId>/appRoleAssignedTo). Deployments are incremental:
// taking a caller or a role out of `callers` does not revoke an assignment made before; delete it
// (az rest DELETE .../appRoleAssignedTo/<assignment id>). Redeploying an existing assignment has
// been reported to fail with "EntitlementGrant entry already exists" on appRoleAssignedTo@beta
// (github.com/microsoftgraph/msgraph-bicep-types/issues/161, open); this uses @v1.0.
extension microsoftGraphV1

@description('Immutable unique name of the app (its alternate key, and the path of its application ID URI).')
param uniqueName string

@description('Display name, shown in the home tenant\'s app lists and role assignments.')
param displayName string

@description('Callers to assign app roles to: [{ servicePrincipalId, roles: [role value, ...], tenants }] (main.bicep apiCallerType).')
param callers array = []

// THE app roles of the API: the values the handler authorizes on (internal/customhandler
// RoleReadAll, RoleReadTenant, RoleRun; handler/infra_test.go checks the two agree, and main.bicep
// apiRoleType lists the same values).
var apiAppRoles = [
  {
    value: 'Reports.Read.All'
    displayName: 'Read all reports'
    description: 'Read every run, every tenant\'s report and the combined workbook: everything, for the MSP\'s own automation and admins.'
  }
  {
    value: 'Reports.Read.Tenant'
    displayName: 'Read its own tenants\' reports'
    description: 'Read the runs and per-tenant workbooks of the caller\'s own tenants only: the customer tenants REPORT_API_CALLERS maps the caller to.'
  }
  {
    value: 'Reports.Run'
    displayName: 'Start report runs'
    description: 'Start report runs: of the caller\'s own tenants, or of any tenant together with Reports.Read.All.'
  }
]

// Each role's id is stable: the same app (uniqueName) keeps the same ids across redeployments, as
// Entra requires (an app role id cannot change while the role is enabled).
var appRoleDefinitions = [for role in apiAppRoles: {
  id: guid(uniqueName, 'appRole', role.value)
  value: role.value
  displayName: role.displayName
  description: role.description
  allowedMemberTypes: [
    'Application'
  ]
  isEnabled: true
}]

// The application ID URI, which the caller's scope names ('<identifierUri>/.default').
var identifierUri = 'api://${tenant().tenantId}/${uniqueName}'

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  // Single tenant: the tokens for this API are issued by this tenant only (see above).
  signInAudience: 'AzureADMyOrg'
  notes: 'tenantreport API app: callers from other tenants get app-only tokens for it (scope ${identifierUri}/.default) to read their own reports. No credentials: it only receives tokens.'
  identifierUris: [
    identifierUri
  ]
  api: {
    requestedAccessTokenVersion: 2
  }
  appRoles: appRoleDefinitions
  optionalClaims: {
    accessToken: [
      {
        name: 'idtyp'
        essential: false
      }
    ]
  }
}

// The API's service principal in the home tenant, where callers' roles are assigned.
resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
  // No token for this API without an app role assignment (AADSTS501051 at the token endpoint).
  appRoleAssignmentRequired: true
}

// One assignment per caller and role. Bicep has no nested loops, so this loop runs over every
// (caller, app role) pair, i = caller index × role count + role index, and keeps the pairs whose
// role the caller lists. A role value that is not one of apiAppRoles assigns nothing here (main.bicep
// types roles as apiRoleType, so a typo fails before the deployment).
var roleCount = length(apiAppRoles)

resource callerRoleAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for i in range(0, length(callers) * roleCount): if (contains(callers[i / roleCount].roles, apiAppRoles[i % roleCount].value)) {
  principalId: callers[i / roleCount].servicePrincipalId
  resourceId: servicePrincipal.id
  appRoleId: appRoleDefinitions[i % roleCount].id
}]

@description('Application (client) id: REPORT_API_CLIENT_ID, and the aud of every v2.0 token for the API.')
output appId string = app.appId

@description('Application ID URI: REPORT_API_APP_ID_URI; callers ask for scope <identifierUri>/.default.')
output identifierUri string = identifierUri

@description('Object id of the application.')
output objectId string = app.id

@description('Object id of the API\'s service principal in the home tenant: the resourceId of app role assignments.')
output servicePrincipalId string = servicePrincipal.id
