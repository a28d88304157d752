// The Function App: Flex Consumption (FC1), Linux, custom handler runtime, running as the
// user-assigned managed identity with no connection string, key or secret in its settings.
//
// Flex Consumption takes its runtime from functionAppConfig (runtime 'custom' runs the host with
// host.json's customHandler: bin/handler), and rejects the app settings it replaced:
// FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE and the like are
// deliberately absent. The deployed package lives in a blob container the app reads as the identity.

@description('Name of the Function App (globally unique: <name>.azurewebsites.net).')
param name string

@description('Name of its Flex Consumption plan (one app per plan).')
param planName string

@description('Region of both.')
param location string

@description('Tags of both.')
param tags object = {}

@description('azd service name (azure.yaml) that deploys to this app; azd finds the app by this tag.')
param serviceName string

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Storage account of the host (AzureWebJobsStorage) and of the deployment container.')
param storageAccountName string

@description('Blob container holding the deployed package.')
param deploymentContainerName string

@description('Application Insights component receiving the app\'s telemetry.')
param applicationInsightsName string

@description('Scale-out limit of the app.')
param maximumInstanceCount int

@allowed([
  512
  2048
  4096
])
@description('Memory of each instance, in MB.')
param instanceMemoryMB int = 2048

@description('The handler\'s own app settings (REPORT_*, BRIDGE_APP_CLIENT_ID, MANAGED_IDENTITY_CLIENT_ID).')
param appSettings object

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

// Identity-based host storage (the AzureWebJobsStorage__* form; the handler reads the same settings
// for its reports unless REPORT_STORAGE is set) and Entra-authenticated telemetry.
var hostSettings = {
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(appSettings, hostSettings)
}

output name string = site.name

output defaultHostName string = site.properties.defaultHostName
