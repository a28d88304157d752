// tenantreport: everything the handler runs on, with no secret anywhere.
//
//   azd up                      (azure.yaml; parameters from infra/main.parameters.json)
//
// Deploys, in one resource group: Log Analytics + Application Insights, a storage account, a
// user-assigned managed identity (UAMI), a Flex Consumption Function App running bin/handler as
// that identity, and the identity's storage and monitoring roles. In the home tenant (the tenant of
// this subscription) it registers, through the Microsoft Graph Bicep extension, the multi-tenant
// bridge app with a federated identity credential (FIC) that trusts the UAMI, and its service
// principal; and the single-tenant API app that callers in other tenants get tokens for when they
// read their own reports through /api/entra/reports (modules/apiapp.bicep), with its service
// principal and the app roles of apiCallers.
//
// Why these choices:
// * Flex Consumption (FC1): the only consumption plan that still gets new features (Linux
//   Consumption is retiring), it scales to zero between nightly runs, and it is the plan whose
//   deployment storage, host storage and telemetry all work with a managed identity, so the app
//   has no connection string and no key.
// * No shared keys (allowSharedKeyAccess: false): every storage client, the Functions host
//   (AzureWebJobsStorage__credential), the Flex deployment container and the handler's report
//   uploads, authenticates as the UAMI through Entra ID and RBAC. There is no key to leak or rotate.
// * The FIC is on an app in the home tenant: Entra accepts a managed identity token as a client
//   assertion only for an app registered in the identity's own tenant (otherwise AADSTS700236).
//   The app is multi-tenant, so each customer tenant gets its service principal through admin
//   consent (CONSENT_URL_TEMPLATE), and the same assertion then yields tokens in that tenant.
//
// The deploying user needs, on the subscription, rights to create role assignments (Owner, or
// Contributor + User Access Administrator) and, in Entra ID, the right to create applications
// (Application Developer, or Application.ReadWrite.All for a workload identity); assigning the API's
// app roles (apiCallers not empty) also needs Cloud Application Administrator or Application
// Administrator (AppRoleAssignment.ReadWrite.All for a workload identity). The subscription,
// and so the managed identity and the bridge app, must be in the customer tenants' cloud
// (reportCloud).
targetScope = 'subscription'

// ----- Parameters ---------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('azd environment name: resource names derive from it and every resource is tagged with it.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({ azd: { type: 'location' } })
param location string

@description('One customer tenant of the report: an entry of the handler\'s REPORT_TENANTS.')
type tenantType = {
  @description('The customer\'s tenant id (a GUID).')
  tenantId: string

  @description('Name shown in the report; the tenant id when omitted.')
  displayName: string?

  @description('The tenant\'s cloud, when written down; it must be reportCloud.')
  cloud: string?
}

@minLength(1)
@description('Customer tenants to report on; becomes REPORT_TENANTS. With azd: azd env set REPORT_TENANTS \'[{"tenantId":"<guid>","displayName":"Contoso"}]\'. The handler refuses an empty list, so this one is required.')
param tenants tenantType[]

@description('NCRONTAB (six fields, UTC) of the ReportTimer function; becomes REPORT_SCHEDULE.')
param reportSchedule string = '0 0 6 * * *'

@allowed([
  'public'
  'usgov'
  'usgovdod'
  'china'
])
@description('Cloud of the customer tenants; becomes REPORT_CLOUD and picks the audience of the federated credential and the consent redirect. The subscription, and so the managed identity and the bridge app, must be in the same cloud.')
param reportCloud string = 'public'

@minValue(1)
@maxValue(1024)
@description('Tenants collected at once; becomes REPORT_CONCURRENCY.')
param reportConcurrency int = 256

@description('Comma-separated report sections; becomes REPORT_SECTIONS. Empty: all sections.')
param reportSections string = ''

@description('Immutable unique name of the bridge app registration in the home tenant (its alternate key for redeployments).')
param bridgeAppUniqueName string = 'tenantreport-bridge-${environmentName}'

@description('Display name of the bridge app: what customer admins see on the consent page.')
param bridgeAppDisplayName string = 'tenantreport (${environmentName})'

@description('Immutable unique name of the API app registration in the home tenant (its alternate key for redeployments, and the path of its application ID URI api://<tenant id>/<name>).')
param apiAppUniqueName string = 'tenantreport-api-${environmentName}'

@description('Display name of the API app: what the home tenant\'s admins see next to its role assignments.')
param apiAppDisplayName string = 'tenantreport API (${environmentName})'

@description('An app role of the API app (modules/apiapp.bicep apiAppRoles): what a caller of /api/entra/reports may do.')
type apiRoleType = 'Reports.Read.All' | 'Reports.Read.Tenant' | 'Reports.Run'

@description('A caller of the Entra-authenticated API: a workload in another tenant whose multi-tenant client app has a service principal in the home tenant (admin consent, or az ad sp create --id <client app id>).')
type apiCallerType = {
  @description('Object id of the caller\'s service principal in the HOME tenant (az ad sp show --id <client app id> --query id -o tsv); the oid of its tokens. It must exist before the deployment.')
  servicePrincipalId: string

  @minLength(1)
  @description('App roles to assign to it: Reports.Read.All (everything), Reports.Read.Tenant (its own tenants), Reports.Run (start runs).')
  roles: apiRoleType[]

  @description('Customer tenant ids it may read with Reports.Read.Tenant, each one of the tenants parameter (any other stops the handler at start, as every invalid setting does): its entry in REPORT_API_CALLERS. Empty for a Reports.Read.All caller.')
  tenants: string[]
}

@description('Callers of /api/entra/reports: each gets its roles assigned on the API app and its tenants in REPORT_API_CALLERS. With azd: azd env set API_CALLERS \'[{"servicePrincipalId":"<guid>","roles":["Reports.Read.Tenant"],"tenants":["<tenant guid>"]}]\'. Empty: the API admits nobody until the MSP assigns roles by hand (README).')
param apiCallers apiCallerType[] = []

@minValue(40)
@maxValue(1000)
@description('Flex Consumption scale-out limit. A report run is one process on one instance: the timer is a singleton, and each instance takes one queued on-demand run at a time (host.json extensions.queues); other instances serve HTTP requests, so the plan\'s floor is plenty.')
param maximumInstanceCount int = 40

// ----- The Graph permissions of the bridge app ----------------------------------------------------

// THE list of Microsoft Graph application permissions (app roles of Microsoft Graph,
// 00000003-0000-0000-c000-000000000000) the bridge app requests: `handler permissions --json` for
// all report sections, least privilege, read only. It is the only place in infra/ naming them.
// handler/infra_test.go fails when it drifts from internal/graphdata: a permission the code needs
// missing here, or a name/id pair here that is not the code's. Requesting is not granting: each
// customer's admin grants them by consenting (CONSENT_URL_TEMPLATE).
var graphAppRoles = [
  { name: 'Organization.Read.All', id: '498476ce-e0fe-48b0-b801-37ba7e2685c6' } // tenant, licences
  { name: 'Domain.Read.All', id: 'dbb9058a-0e50-45d7-ae91-66909b5d4664' } // tenant (domains)
  { name: 'User.Read.All', id: 'df021288-bdef-4463-88db-98f22de89214' } // users, guests
  { name: 'AuditLog.Read.All', id: 'b0afded3-3588-46d8-8b3d-9842eff778da' } // sign-in activity, MFA registration
  { name: 'LicenseAssignment.Read.All', id: 'e2f98668-2877-4f38-a2f4-8202e0717aa1' } // licences
  { name: 'RoleManagement.Read.Directory', id: '483bed4a-2ad3-4361-a73b-c83ccdbdc53c' } // admin roles
  { name: 'Device.Read.All', id: '7438b122-aefc-4978-80ed-43db9fcc7715' } // devices
  { name: 'Policy.Read.All', id: '246dd0d5-5bd0-4def-940b-0421030a5b68' } // conditional access
  { name: 'Application.Read.All', id: '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30' } // app credentials
  { name: 'SecurityEvents.Read.All', id: 'bf394140-e372-4bf9-a898-299cfc7564e5' } // secure score
]

// Audience of the managed identity token the handler presents as client assertion, per cloud, as
// internal/settings picks it from REPORT_CLOUD. The FIC must list exactly this audience
// (handler/infra_test.go checks the two agree).
var exchangeAudiences = {
  public: 'api://AzureADTokenExchange'
  usgov: 'api://AzureADTokenExchangeUSGov'
  usgovdod: 'api://AzureADTokenExchangeUSGov'
  china: 'api://AzureADTokenExchangeChina'
}

// Where Entra sends a customer's admin after admin consent, per cloud, as internal/settings picks
// it from REPORT_CLOUD (Cloud.ConsentRedirectURI): the cloud's Azure portal. The bridge app
// registers it and every consent URL passes it (handler/infra_test.go checks the three agree).
var consentRedirectUris = {
  public: 'https://portal.azure.com/'
  usgov: 'https://portal.azure.us/'
  usgovdod: 'https://portal.azure.us/'
  china: 'https://portal.azure.cn/'
}

// ----- Names --------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
// REPORT_CONTAINER: where the handler writes workbooks and run records.
var reportsContainerName = 'reports'
// Where Flex Consumption keeps the deployed package (read with the UAMI).
var deploymentContainerName = 'app-package'
// The run-request queue (internal/customhandler RunQueue): POST /api/reports (ReportHttp) puts a
// run request on it and ReportQueue (ReportQueue/function.json, connection AzureWebJobsStorage)
// executes it. It lives in the host's storage account, reached as the UAMI.
var runQueueName = 'tenantreport-runs'

// ----- Resources ----------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-tenantreport-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    containerNames: [
      deploymentContainerName
      reportsContainerName
    ]
    queueNames: [
      runQueueName
    ]
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.name
    principalId: identity.outputs.principalId
  }
}

module bridgeApp 'modules/bridgeapp.bicep' = {
  name: 'bridgeapp'
  scope: rg
  params: {
    uniqueName: bridgeAppUniqueName
    displayName: bridgeAppDisplayName
    graphAppRoles: graphAppRoles
    managedIdentityPrincipalId: identity.outputs.principalId
    exchangeAudience: exchangeAudiences[reportCloud]
    consentRedirectUri: consentRedirectUris[reportCloud]
  }
}

module apiApp 'modules/apiapp.bicep' = {
  name: 'apiapp'
  scope: rg
  params: {
    uniqueName: apiAppUniqueName
    displayName: apiAppDisplayName
    callers: apiCallers
  }
}

// REPORT_API_CALLERS: each caller's service principal object id (the oid of its tokens, lower case)
// → the tenants it may read with Reports.Read.Tenant. Callers with no tenants (Reports.Read.All
// only) need no entry.
var apiCallersSetting = string(toObject(filter(apiCallers, caller => !empty(caller.tenants)), caller => toLower(caller.servicePrincipalId), caller => caller.tenants))

// The handler's own settings (internal/settings); the module adds the host's storage and telemetry.
var reportSettings = union(
  {
    REPORT_TENANTS: string(tenants)
    BRIDGE_APP_CLIENT_ID: bridgeApp.outputs.appId
    MANAGED_IDENTITY_CLIENT_ID: identity.outputs.clientId
    REPORT_CLOUD: reportCloud
    REPORT_SCHEDULE: reportSchedule
    REPORT_CONTAINER: reportsContainerName
    REPORT_CONCURRENCY: string(reportConcurrency)
    // The Entra-authenticated API (ReportEntra, /api/entra/reports): tokens from the home tenant
    // for the API app.
    REPORT_API_TENANT_ID: tenant().tenantId
    REPORT_API_CLIENT_ID: apiApp.outputs.appId
    REPORT_API_APP_ID_URI: apiApp.outputs.identifierUri
    REPORT_API_CALLERS: apiCallersSetting
  },
  empty(reportSections) ? {} : { REPORT_SECTIONS: reportSections }
)

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: 'func-tenantreport-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    serviceName: 'handler'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.name
    maximumInstanceCount: maximumInstanceCount
    appSettings: reportSettings
  }
  // The host reaches storage as the identity as soon as it starts: grant the roles first.
  dependsOn: [
    rbac
  ]
}

// ----- Outputs (azd stores them in the environment: `azd env get-values`) -------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output REPORTS_API_URL string = 'https://${functionApp.outputs.defaultHostName}/api/reports'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output BRIDGE_APP_CLIENT_ID string = bridgeApp.outputs.appId
// The Entra-authenticated API: callers ask the home tenant (AZURE_TENANT_ID) for a token with scope
// '<API_APP_ID_URI>/.default'; the MSP assigns app roles on API_SERVICE_PRINCIPAL_ID.
output REPORTS_ENTRA_API_URL string = 'https://${functionApp.outputs.defaultHostName}/api/entra/reports'
output API_APP_CLIENT_ID string = apiApp.outputs.appId
output API_APP_ID_URI string = apiApp.outputs.identifierUri
output API_SERVICE_PRINCIPAL_ID string = apiApp.outputs.servicePrincipalId
// Replace {tenantId} with a customer's tenant id and send the URL to that tenant's admin
// (`handler consent-url --tenant <id>` prints the same with BRIDGE_APP_CLIENT_ID set).
output CONSENT_URL_TEMPLATE string = '${environment().authentication.loginEndpoint}{tenantId}/adminconsent?client_id=${bridgeApp.outputs.appId}&redirect_uri=${uriComponent(consentRedirectUris[reportCloud])}'
