// The Function App's user-assigned managed identity. It is the app's only credential: the host and
// the handler reach storage with it, and its tokens are the client assertion of the bridge app
// (whose federated credential names this identity's principal id as subject). User-assigned, not
// system-assigned, so it exists before the app and the bridge app's credential can trust it in the
// same deployment, and so it survives re-creating the app.

@description('Name of the identity.')
param name string

@description('Region of the identity.')
param location string

@description('Tags of the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id, for the app\'s identity block and the Flex deployment storage.')
output id string = identity.id

@description('Client (application) id: MANAGED_IDENTITY_CLIENT_ID and AzureWebJobsStorage__clientId.')
output clientId string = identity.properties.clientId

@description('Principal (object) id: the subject of the bridge app\'s federated credential and of role assignments.')
output principalId string = identity.properties.principalId
