// hubwatch on Azure Container Apps.
//
//   az deployment group create -g <rg> -f deploy/containerapps/main.bicep \
//     -p environmentId=<managed environment id> eventHubNamespaceName=contoso-security \
//        eventHubName=azure-logs storageAccountName=contosohubwatch webhookUrl=https://...
//
// Creates a user-assigned managed identity, grants it Azure Event Hubs Data Receiver on the
// namespace and Storage Blob Data Contributor on the checkpoint account, and runs the image with
// the configuration mounted at /etc/hubwatch/config.toml (a secret volume), liveness and
// readiness probes on port 9464 (/healthz, /readyz), and a KEDA azure-eventhub scale rule that
// reads hubwatch's blob checkpoints (checkpointStrategy: blobMetadata) with the same identity.
// The namespace, the event hub, the consumer group and the storage account must exist in this
// resource group.

@description('Name of the container app.')
param name string = 'hubwatch'

@description('Location of the app and the identity.')
param location string = resourceGroup().location

@description('Resource id of the Container Apps managed environment.')
param environmentId string

@description('Container image (see the Dockerfile).')
param image string = 'ghcr.io/your-org/hubwatch:0.1.0'

@description('Event Hubs namespace name (without .servicebus.windows.net).')
param eventHubNamespaceName string

@description('The event hub the diagnostic settings stream to.')
param eventHubName string = 'azure-logs'

@description('Consumer group of its own for hubwatch.')
param consumerGroup string = 'hubwatch'

@description('Partition count of the event hub: the most replicas that can have work.')
@minValue(1)
param partitionCount int = 4

@description('Unprocessed events per replica before scaling out.')
param unprocessedEventThreshold int = 500

@description('Storage account holding the checkpoint container.')
param storageAccountName string

@description('Blob container for checkpoints and ownership.')
param checkpointContainer string = 'hubwatch-checkpoints'

@description('Webhook that receives alerts.')
param webhookUrl string

@description('Optional SAS connection string for Event Hubs; empty uses the managed identity.')
@secure()
param eventHubsConnectionString string = ''

var port = 9464
var useConnectionString = !empty(eventHubsConnectionString)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-identity'
  location: location
}

resource eventHubNamespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubNamespaceName
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

// Azure Event Hubs Data Receiver
resource receiverRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventHubNamespace.id, identity.id, 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde')
  scope: eventHubNamespace
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde')
  }
}

// Storage Blob Data Contributor (checkpoints and ownership; KEDA only reads)
resource blobRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, identity.id, 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  scope: storageAccount
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  }
}

// The configuration file (every key is documented in config/example.toml).
var configToml = join([
  '[service]'
  'state_dir = "/var/lib/hubwatch"'
  'log_format = "json"'
  'shutdown_grace_secs = 30'
  ''
  '[http]'
  'listen = "0.0.0.0:${port}"'
  ''
  '[source]'
  'kind = "eventhubs"'
  'namespace = "${eventHubNamespaceName}.servicebus.windows.net"'
  'eventhub = "${eventHubName}"'
  'consumer_group = "${consumerGroup}"'
  useConnectionString ? 'credential = "connection-string"' : 'credential = "managed-identity"'
  useConnectionString ? 'connection_string_env = "EVENTHUBS_CONNECTION_STRING"' : 'client_id = "${identity.properties.clientId}"'
  'start_position = "latest"'
  ''
  '[checkpoint]'
  'kind = "blob"'
  'container_url = "https://${storageAccountName}.blob.${environment().suffixes.storage}/${checkpointContainer}"'
  'auth = "entra"'
  'credential = "managed-identity"'
  'client_id = "${identity.properties.clientId}"'
  ''
  '[[sinks]]'
  'kind = "webhook"'
  'name = "soc-webhook"'
  'url = "${webhookUrl}"'
  'min_severity = "medium"'
  ''
  '[[sinks]]'
  'kind = "file"'
  'name = "archive"'
  'path = "/var/lib/hubwatch/alerts.jsonl"'
  ''
], '\n')

var baseSecrets = [
  {
    name: 'config-toml'
    value: configToml
  }
]
var connectionStringSecrets = useConnectionString ? [
  {
    name: 'eventhubs-connection-string'
    value: eventHubsConnectionString
  }
] : []

var baseEnv = [
  {
    name: 'HUBWATCH_HTTP__LISTEN'
    value: '0.0.0.0:${port}'
  }
  {
    name: 'HUBWATCH_SERVICE__STATE_DIR'
    value: '/var/lib/hubwatch'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identity.properties.clientId
  }
]
var connectionStringEnv = useConnectionString ? [
  {
    name: 'EVENTHUBS_CONNECTION_STRING'
    secretRef: 'eventhubs-connection-string'
  }
] : []

resource app 'Microsoft.App/containerApps@2024-10-02-preview' = {
  name: name
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  dependsOn: [
    receiverRole
    blobRole
  ]
  properties: {
    managedEnvironmentId: environmentId
    configuration: {
      activeRevisionsMode: 'Single'
      secrets: concat(baseSecrets, connectionStringSecrets)
      // Internal only: /metrics and health for the environment; hubwatch takes no traffic.
      ingress: {
        external: false
        targetPort: port
        transport: 'http'
        allowInsecure: true
      }
    }
    template: {
      terminationGracePeriodSeconds: 45
      containers: [
        {
          name: 'hubwatch'
          image: image
          args: [
            'run'
            '--config'
            '/etc/hubwatch/config.toml'
          ]
          env: concat(baseEnv, connectionStringEnv)
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: port
              }
              periodSeconds: 2
              failureThreshold: 30
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: port
              }
              periodSeconds: 10
              timeoutSeconds: 3
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: port
              }
              periodSeconds: 10
              timeoutSeconds: 3
              failureThreshold: 3
            }
          ]
          volumeMounts: [
            {
              volumeName: 'config'
              mountPath: '/etc/hubwatch'
            }
            {
              volumeName: 'state'
              mountPath: '/var/lib/hubwatch'
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'config'
          storageType: 'Secret'
          secrets: [
            {
              secretRef: 'config-toml'
              path: 'config.toml'
            }
          ]
        }
        {
          // Dead letters and the file sink's output; lost with the replica (use Azure Files
          // storage to keep them). Checkpoints live in Blob Storage.
          name: 'state'
          storageType: 'EmptyDir'
        }
      ]
      scale: {
        // Never zero: an idle hub still needs a reader.
        minReplicas: 1
        maxReplicas: partitionCount
        rules: [
          {
            name: 'eventhub-lag'
            custom: {
              type: 'azure-eventhub'
              identity: identity.id
              metadata: {
                eventHubNamespace: eventHubNamespaceName
                eventHubName: eventHubName
                consumerGroup: consumerGroup
                unprocessedEventThreshold: string(unprocessedEventThreshold)
                activationUnprocessedEventThreshold: '10'
                storageAccountName: storageAccountName
                blobContainer: checkpointContainer
                checkpointStrategy: 'blobMetadata'
              }
            }
          }
        ]
      }
    }
  }
}

output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
output appName string = app.name
