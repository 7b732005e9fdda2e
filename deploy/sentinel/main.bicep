// What hubwatch's `sentinel` sink sends to: a custom Log Analytics table, a data collection
// endpoint (DCE) and rule (DCR) for the Logs Ingestion API, and the Monitoring Metrics Publisher
// role on the DCR for the identity hubwatch runs as. Deploy it to the workspace's resource group:
//
//   az deployment group create -g <workspace rg> -f deploy/sentinel/main.bicep \
//     -p workspaceName=<Log Analytics workspace> principalId=<hubwatch identity's object id>
//
// The outputs are the sink's settings (endpoint, dcr_immutable_id, stream_name).
// deploy/containerapps/main.bicep uses this file as a module when sentinelWorkspaceId is set.
// The columns (columns.json) are the sink's row (src/sink/sentinel.rs); tests/sentinel_table.rs
// checks that every row hubwatch sends has exactly these columns with these types.

@description('Log Analytics workspace (with Microsoft Sentinel) in this resource group.')
param workspaceName string

@description('Region of the DCE and DCR: the workspace\'s region.')
param location string = resourceGroup().location

@description('Object (principal) id of the identity hubwatch runs as; empty assigns no role.')
param principalId string = ''

@description('Prefix of the DCE and DCR names.')
param namePrefix string = 'hubwatch'

@description('Days the table keeps alerts for queries (-1: the workspace default).')
param retentionInDays int = -1

var tableName = 'HubwatchAlerts_CL'
// The sink's stream_name; the DCR sends it to the table (Custom-<table>).
var streamName = 'Custom-HubwatchAlerts'
var columns = loadJsonContent('columns.json')
// Monitoring Metrics Publisher: what the Logs Ingestion API requires on the DCR.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource table 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: tableName
  properties: {
    // Analytics: Sentinel's analytics rules and hunting queries read only Analytics tables.
    plan: 'Analytics'
    retentionInDays: retentionInDays
    schema: {
      name: tableName
      columns: columns
    }
  }
}

resource dce 'Microsoft.Insights/dataCollectionEndpoints@2023-03-11' = {
  name: '${namePrefix}-dce'
  location: location
  properties: {
    networkAcls: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource dcr 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: '${namePrefix}-dcr'
  location: location
  // The table must exist before a data flow can name it.
  dependsOn: [
    table
  ]
  properties: {
    dataCollectionEndpointId: dce.id
    streamDeclarations: {
      '${streamName}': {
        columns: columns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          streamName
        ]
        destinations: [
          'workspace'
        ]
        // The rows already have the table's columns.
        transformKql: 'source'
        outputStream: 'Custom-${tableName}'
      }
    ]
  }
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(dcr.id, principalId, monitoringMetricsPublisher)
  scope: dcr
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}

@description('The sink\'s endpoint.')
output endpoint string = dce.properties.logsIngestion.endpoint
@description('The sink\'s dcr_immutable_id.')
output dcrImmutableId string = dcr.properties.immutableId
@description('The sink\'s stream_name.')
output streamName string = streamName
output tableName string = tableName
