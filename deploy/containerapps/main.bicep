// hubwatch on Azure Container Apps.
//
//   az deployment group create -g <rg> -f deploy/containerapps/main.bicep \
//     -p environmentId=<managed environment id> eventHubNamespaceName=contoso-security \
//        eventHubName=azure-logs storageAccountName=contosohubwatch webhookUrl=https://...
//
// Creates a user-assigned managed identity and grants it, at the scopes the README states,
// Azure Event Hubs Data Receiver on the event hub and Storage Blob Data Contributor on the
// checkpoint container (created here); the optional sinks get theirs only when their parameters
// are set: Azure Event Hubs Data Sender on the alerts hub (alertsEventHubName), and Monitoring
// Metrics Publisher on the data collection rule that deploy/sentinel/main.bicep creates
// (sentinelWorkspaceId). It runs the image with the configuration mounted at
// /etc/hubwatch/config.toml (a secret volume), probes on port 9464 (/healthz, /readyz), and a
// KEDA azure-eventhub scale rule that reads hubwatch's blob checkpoints (blobMetadata) with the
// same identity. Host names come from the namespace and environment(), so the file serves every
// Azure cloud. The namespace, the event hub, the consumer group and the storage account must
// exist in this resource group.
//
// With redisName (an Azure Managed Redis cluster in this resource group, access-key authentication
// enabled on its database), the replicas share a context store for runbook_answers: the
// HUBWATCH_CONTEXT__* variables turn [context] on with store = "redis", TLS on port 10000, and
// the database's primary key as the secret redis-access-key (see docs/context.md).

@description('Name of the container app.')
param name string = 'hubwatch'

@description('Location of the app and the identity.')
param location string = resourceGroup().location

@description('Resource id of the Container Apps managed environment.')
param environmentId string

@description('Container image (see the Dockerfile).')
param image string = 'ghcr.io/your-org/hubwatch:0.1.0'

@description('Event Hubs namespace name (the first label of its host name).')
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

@description('Blob container for checkpoints and ownership (created if missing).')
param checkpointContainer string = 'hubwatch-checkpoints'

@description('Webhook that receives alerts; empty: no webhook sink.')
param webhookUrl string = ''

@description('Optional SAS connection string for Event Hubs; empty uses the managed identity.')
@secure()
param eventHubsConnectionString string = ''

@description('Optional alerts sink: an event hub that receives every alert; empty: none.')
param alertsEventHubName string = ''

@description('Namespace of alertsEventHubName, in this resource group; empty: eventHubNamespaceName.')
param alertsEventHubNamespaceName string = ''

@description('Optional Sentinel sink: resource id of the Log Analytics workspace; empty: none.')
param sentinelWorkspaceId string = ''

@description('Optional context store shared by the replicas (runbook_answers on Key Vault alerts): an Azure Managed Redis cluster in this resource group; empty: no context store.')
param redisName string = ''

@description('Database of redisName (access-key authentication must be enabled on it).')
param redisDatabaseName string = 'default'

var port = 9464
var useConnectionString = !empty(eventHubsConnectionString)
var useWebhook = !empty(webhookUrl)
var useAlertsHub = !empty(alertsEventHubName)
var useSentinel = !empty(sentinelWorkspaceId)
var useRedis = !empty(redisName)

// Built-in role definitions (ids from Microsoft's list of Azure built-in roles).
var eventHubsDataReceiver = 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
var eventHubsDataSender = '2b629674-e913-4c01-ae53-ef4638d8f975'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-identity'
  location: location
}

resource eventHubNamespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubNamespaceName
}

resource eventHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = {
  parent: eventHubNamespace
  name: eventHubName
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storageAccount
  name: 'default'
}

resource checkpointBlobContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: checkpointContainer
  properties: {
    publicAccess: 'None'
  }
}

resource alertsNamespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: empty(alertsEventHubNamespaceName) ? eventHubNamespaceName : alertsEventHubNamespaceName
}

resource alertsHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = {
  parent: alertsNamespace
  // A placeholder name keeps the unused reference well-formed.
  name: useAlertsHub ? alertsEventHubName : 'unused'
}

// Reading the hub (and the KEDA rule's partition lag) needs no more than this, on the hub.
resource receiverRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventHub.id, identity.id, eventHubsDataReceiver)
  scope: eventHub
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventHubsDataReceiver)
  }
}

// Checkpoints and ownership, on the container (KEDA only reads).
resource blobRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(checkpointBlobContainer.id, identity.id, storageBlobDataContributor)
  scope: checkpointBlobContainer
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

resource senderRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useAlertsHub) {
  name: guid(alertsHub.id, identity.id, eventHubsDataSender)
  scope: alertsHub
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventHubsDataSender)
  }
}

// The table, DCE and DCR in the workspace's resource group, with Monitoring Metrics Publisher
// on the DCR for this identity.
// A placeholder id keeps the scope of the unused module well-formed.
var sentinelWorkspace = split(useSentinel ? sentinelWorkspaceId : '${resourceGroup().id}/providers/Microsoft.OperationalInsights/workspaces/unused', '/')

module sentinel '../sentinel/main.bicep' = if (useSentinel) {
  name: '${name}-sentinel'
  scope: resourceGroup(sentinelWorkspace[2], sentinelWorkspace[4])
  params: {
    workspaceName: last(sentinelWorkspace)
    principalId: identity.properties.principalId
    namePrefix: name
  }
}

// Host names as the namespace reports them ('https://<name>.servicebus.windows.net:443/' in the
// public cloud), so no cloud's suffix is written here.
var serviceBusHost = toLower(split(split(split(eventHubNamespace.properties.serviceBusEndpoint, '://')[1], '/')[0], ':')[0])
var serviceBusSuffix = substring(serviceBusHost, indexOf(serviceBusHost, '.') + 1)
var alertsHost = toLower(split(split(split(alertsNamespace.properties.serviceBusEndpoint, '://')[1], '/')[0], ':')[0])
var containerUrl = 'https://${storageAccountName}.blob.${environment().suffixes.storage}/${checkpointContainer}'
var clientIdLine = 'client_id = "${identity.properties.clientId}"'

// The configuration file (every key is documented in config/example.toml).
var configToml = join(flatten([
  [
    '[service]'
    'state_dir = "/var/lib/hubwatch"'
    'log_format = "json"'
    'shutdown_grace_secs = 30'
    '# Storage or Event Hubs unreachable at start: retried this long, then exit 2 with the cause.'
    'startup_timeout_secs = 300'
    ''
    '[http]'
    'listen = "0.0.0.0:${port}"'
    ''
    '[source]'
    'kind = "eventhubs"'
    'namespace = "${serviceBusHost}"'
    'eventhub = "${eventHubName}"'
    'consumer_group = "${consumerGroup}"'
    useConnectionString ? 'credential = "connection-string"' : 'credential = "managed-identity"'
    useConnectionString ? 'connection_string_env = "EVENTHUBS_CONNECTION_STRING"' : clientIdLine
    'start_position = "latest"'
    ''
    '[checkpoint]'
    'kind = "blob"'
    'container_url = "${containerUrl}"'
    'auth = "entra"'
    'credential = "managed-identity"'
    clientIdLine
    ''
    '[[sinks]]'
    'kind = "file"'
    'name = "archive"'
    'path = "/var/lib/hubwatch/alerts.jsonl"'
    ''
  ]
  useWebhook ? [
    '[[sinks]]'
    'kind = "webhook"'
    'name = "soc-webhook"'
    'url = "${webhookUrl}"'
    'min_severity = "medium"'
    ''
  ] : []
  useAlertsHub ? [
    '[[sinks]]'
    'kind = "eventhubs"'
    'name = "alerts-hub"'
    'namespace = "${alertsHost}"'
    'eventhub = "${alertsEventHubName}"'
    'credential = "managed-identity"'
    clientIdLine
    ''
  ] : []
  useSentinel ? [
    '[[sinks]]'
    'kind = "sentinel"'
    'name = "sentinel"'
    'endpoint = "${sentinel.outputs.endpoint}"'
    'dcr_immutable_id = "${sentinel.outputs.dcrImmutableId}"'
    'stream_name = "${sentinel.outputs.streamName}"'
    'credential = "managed-identity"'
    clientIdLine
    'gzip = true'
    ''
  ] : []
]), '\n')

// The context store: Azure Managed Redis over TLS (port 10000) with the database's access key,
// set through HUBWATCH_CONTEXT__* variables (the key itself only as a secret).
resource redis 'Microsoft.Cache/redisEnterprise@2024-10-01' existing = if (useRedis) {
  name: useRedis ? redisName : 'unused'
}

resource redisDatabase 'Microsoft.Cache/redisEnterprise/databases@2024-10-01' existing = if (useRedis) {
  parent: redis
  name: redisDatabaseName
}

var redisSecrets = useRedis ? [
  {
    name: 'redis-access-key'
    value: redisDatabase.listKeys().primaryKey
  }
] : []
var redisEnv = useRedis ? [
  {
    name: 'HUBWATCH_CONTEXT__ENABLED'
    value: 'true'
  }
  {
    name: 'HUBWATCH_CONTEXT__STORE'
    value: 'redis'
  }
  {
    name: 'HUBWATCH_CONTEXT__REDIS__URL'
    value: 'rediss://${redis.properties.hostName}:10000'
  }
  {
    name: 'HUBWATCH_CONTEXT__REDIS__AUTH'
    value: 'access-key'
  }
  {
    name: 'HUBWATCH_CONTEXT__REDIS__ACCESS_KEY_ENV'
    value: 'REDIS_ACCESS_KEY'
  }
  {
    name: 'REDIS_ACCESS_KEY'
    secretRef: 'redis-access-key'
  }
] : []

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
    senderRole
    sentinel
  ]
  properties: {
    managedEnvironmentId: environmentId
    configuration: {
      activeRevisionsMode: 'Single'
      secrets: concat(baseSecrets, connectionStringSecrets, redisSecrets)
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
          env: concat(baseEnv, connectionStringEnv, redisEnv)
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
              // KEDA keeps the namespace and hub as given, hubwatch lower-cases them in blob
              // names: give KEDA the lower-cased names, and spell out the cloud's suffixes
              // (`hubwatch check-config` prints the same values).
              metadata: {
                eventHubNamespace: toLower(eventHubNamespaceName)
                eventHubName: toLower(eventHubName)
                consumerGroup: toLower(consumerGroup)
                unprocessedEventThreshold: string(unprocessedEventThreshold)
                activationUnprocessedEventThreshold: '10'
                storageAccountName: toLower(storageAccountName)
                blobContainer: checkpointContainer
                checkpointStrategy: 'blobMetadata'
                cloud: 'Private'
                endpointSuffix: serviceBusSuffix
                storageEndpointSuffix: environment().suffixes.storage
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
