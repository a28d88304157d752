// The storage account: the Functions host's storage (AzureWebJobsStorage: timer schedule status and
// singleton locks in blobs, queues, tables), the Flex Consumption deployment container, the
// reports container (workbooks and run records), and the run-request queue that ReportHttp fills
// and ReportQueue drains.
//
// Shared key access is disabled: there is no connection string with an account key anywhere, and
// every caller authenticates with Entra ID and is authorised by RBAC (rbac.bicep). Blobs are never
// public and only TLS 1.2+ over HTTPS is accepted.

@description('Name of the storage account: 3-24 lower-case letters and digits, globally unique.')
param name string

@description('Region of the account.')
param location string

@description('Tags of the account.')
param tags object = {}

@description('Blob containers to create (private).')
param containerNames array

@description('Storage queues to create.')
param queueNames array = []

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// A looped child must be a top-level resource with `parent` (Bicep cannot loop a nested child).
resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in containerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Created by the deployment, so that neither the queue trigger's listener nor the first
// POST /api/reports depends on who creates a queue first.
resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

output name string = storage.name
