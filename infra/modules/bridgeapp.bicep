// The bridge app: a multi-tenant app registration in the HOME tenant (the tenant of the deploying
// subscription, which is also the managed identity's tenant), through the Microsoft Graph Bicep
// extension (bicepconfig.json).
//
// It has no secret and no certificate. Its only credential is a federated identity credential (FIC)
// that trusts the Function App's user-assigned managed identity: the handler asks the identity for a
// token with the exchange audience and presents it as client assertion at
// <login>/<customer tenant>/oauth2/v2.0/token, getting a Graph token in that customer tenant.
// Why it must live here: Entra accepts a managed identity's token as an assertion only for an app
// registered in the identity's own tenant. An app with this FIC in a customer tenant fails with
// AADSTS700236; multi-tenancy plus each customer's admin consent is what reaches their tenants.
//
// Graph child resources take no `parent` property: the FIC is declared inside the app, with the
// full name '<app uniqueName>/<credential name>' (Graph Bicep known issues).
extension microsoftGraphV1

@description('Immutable unique name of the app (its alternate key: redeploying updates the same app).')
param uniqueName string

@description('Display name, shown to customer admins on the consent page.')
param displayName string

@description('Microsoft Graph app roles to request: [{ name, id }] (main.bicep graphAppRoles).')
param graphAppRoles array

@description('Principal (object) id of the managed identity: the FIC subject. Not its client id.')
param managedIdentityPrincipalId string

@description('Audience of the managed identity token (api://AzureADTokenExchange in the public cloud).')
param exchangeAudience string

@description('Where Entra sends a customer admin after admin consent (main.bicep consentRedirectUris): the cloud\'s Azure portal.')
param consentRedirectUri string

// Microsoft Graph's well-known application id.
var graphAppId = '00000003-0000-0000-c000-000000000000'

// Application permissions ("Role"), never delegated ones: the report runs with no user signed in.
var graphResourceAccess = [for role in graphAppRoles: {
  id: role.id
  type: 'Role'
}]

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  // Multi-tenant: each customer tenant can consent and so get a service principal of this app.
  signInAudience: 'AzureADMultipleOrgs'
  notes: 'tenantreport bridge app. No secrets: its only credential is a federated identity credential trusting the Function App managed identity ${managedIdentityPrincipalId}. Customer admins grant its Graph permissions through /adminconsent.'
  requiredResourceAccess: [
    {
      resourceAppId: graphAppId
      resourceAccess: graphResourceAccess
    }
  ]
  // Admin consent ends with a redirect to a URI registered here, or Entra shows AADSTS500113 (none
  // registered) or AADSTS900971 (none given) instead. The consent URLs (CONSENT_URL_TEMPLATE,
  // `handler consent-url`, `handler doctor`) pass this one. It is a page for the admin to land on,
  // not an endpoint of ours: the redirect carries admin_consent, tenant and scope, never a code or
  // token, and an authorization code sent here would be useless without the app's only credential,
  // the managed identity.
  web: {
    redirectUris: [
      consentRedirectUri
    ]
  }
  // App instance property lock: nobody can add a credential to this app's service principal in a
  // customer tenant (recommended for every multi-tenant app).
  servicePrincipalLockConfiguration: {
    isEnabled: true
    allProperties: true
  }

  resource managedIdentityCredential 'federatedIdentityCredentials@v1.0' = {
    name: '${app.uniqueName}/tenantreport-mi'
    description: 'The tenantreport Function App managed identity, as client assertion for every customer tenant.'
    // A managed identity token's issuer: the home tenant's v2.0 authority.
    issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
    // A managed identity token's subject: the identity's principal (object) id.
    subject: managedIdentityPrincipalId
    audiences: [
      exchangeAudience
    ]
  }
}

// The app's service principal in the home tenant (customers' tenants get theirs by consenting).
resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

@description('Application (client) id: BRIDGE_APP_CLIENT_ID.')
output appId string = app.appId

@description('Object id of the application.')
output objectId string = app.id

@description('Object id of the service principal in the home tenant.')
output servicePrincipalId string = servicePrincipal.id
