// Roles of the Function App's managed identity, each on the one resource it is for.
//
// On the storage account, what an identity-based AzureWebJobsStorage needs
// (learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity):
// * Storage Blob Data Owner: the host's blob leases (timer singleton lock, schedule status) and
//   keys, the Flex deployment package, and the handler's reports container.
// * Storage Queue Data Contributor: the run-request queue tenantreport-runs (created by the
//   deployment): the handler sends to it (POST /api/reports) and creates it if it is missing,
//   ReportQueue's trigger reads and deletes its messages, and the host creates and writes
//   tenantreport-runs-poison for requests that failed 5 times.
// * Storage Table Data Contributor: the host's table use (diagnostic events).
// On Application Insights, Monitoring Metrics Publisher: with local auth off, the right to send
// telemetry at all.

@description('Name of the storage account.')
param storageAccountName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Principal (object) id of the managed identity.')
param principalId string

var storageRoles = [
  { name: 'Storage Blob Data Owner', id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' }
  { name: 'Storage Queue Data Contributor', id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' }
  { name: 'Storage Table Data Contributor', id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' }
]
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource storageRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in storageRoles: {
  name: guid(storage.id, principalId, role.id)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.id)
    principalId: principalId
    // A new identity may not have replicated yet: naming its type skips the directory lookup.
    principalType: 'ServicePrincipal'
    description: 'tenantreport Function App identity: ${role.name}'
  }
}]

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'tenantreport Function App identity: Monitoring Metrics Publisher'
  }
}
