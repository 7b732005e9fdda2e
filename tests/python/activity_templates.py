"""Record templates for gen_activity_records.py (see its docstring for the sources [AL] etc.).

Operation names are Azure's [OPS]; ids, names, tenants and addresses are invented.
"""

import copy
import json

SUB = "3f2a9c1e-7b4d-4e1a-9c55-0d2b8e6f4a10"
TENANT = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-prod"
SUBSCRIPTION = f"/subscriptions/{SUB}"
MISSING = object()  # with_field: delete the key

AA = f"{RG}/providers/Microsoft.Automation/automationAccounts/aa-ops"
KV = f"{RG}/providers/Microsoft.KeyVault/vaults/kv-prod-01"
SA = f"{RG}/providers/Microsoft.Storage/storageAccounts/stprod01"
NW = f"{RG}/providers/Microsoft.Network/networkWatchers/NetworkWatcher_eastus"
NSG = f"{RG}/providers/Microsoft.Network/networkSecurityGroups/nsg-web"
VM = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm-web-1"
AKS = f"{RG}/providers/Microsoft.ContainerService/managedClusters/aks-prod"
ARC = f"{RG}/providers/Microsoft.Kubernetes/connectedClusters/arc-edge"
K8S = "rbac.authorization.k8s.io"

# (operationName as Azure spells it [OPS], resourceId [RID], template kind)
OPERATIONS = [
    ("Microsoft.Insights/actionGroups/delete", f"{RG}/providers/Microsoft.Insights/actionGroups/ag-oncall", "admin"),
    ("Microsoft.Advisor/recommendations/available/action", f"{VM}/providers/Microsoft.Advisor/recommendations/5c3b9e2a", "recommendation"),
    ("Microsoft.Insights/alertRules/delete", f"{RG}/providers/Microsoft.Insights/alertRules/cpu-high", "admin"),
    ("Microsoft.Insights/metricAlerts/delete", f"{RG}/providers/Microsoft.Insights/metricAlerts/disk-full", "admin"),
    ("Microsoft.Security/alertsSuppressionRules/write", f"{SUBSCRIPTION}/providers/Microsoft.Security/alertsSuppressionRules/mute-all", "admin"),
    ("Microsoft.Automation/automationAccounts/write", AA, "admin"),
    ("Microsoft.Automation/automationAccounts/runbooks/draft/write", f"{AA}/runbooks/rb-backup/draft/content", "admin"),
    ("Microsoft.Automation/automationAccounts/runbooks/write", f"{AA}/runbooks/rb-backup", "admin"),
    ("Microsoft.Automation/automationAccounts/runbooks/publish/action", f"{AA}/runbooks/rb-backup", "admin"),
    ("Microsoft.Automation/automationAccounts/runbooks/delete", f"{AA}/runbooks/rb-old", "admin"),
    ("Microsoft.Automation/automationAccounts/schedules/write", f"{AA}/schedules/nightly", "admin"),
    ("Microsoft.Automation/automationAccounts/webhooks/write", f"{AA}/webhooks/wh-deploy", "admin"),
    ("Microsoft.Automation/automationAccounts/webhooks/action", f"{AA}/webhooks/wh-deploy", "admin"),
    ("Microsoft.Automation/automationAccounts/jobs/write", f"{AA}/jobs/0f7c2d1e-1111-4a2b-9c3d-4e5f6a7b8c9d", "admin"),
    ("Microsoft.Insights/diagnosticSettings/delete", f"{KV}/providers/Microsoft.Insights/diagnosticSettings/to-eventhub", "admin"),
    ("Microsoft.Compute/disks/delete", f"{RG}/providers/Microsoft.Compute/disks/vm-web-1-osdisk", "admin"),
    ("Microsoft.Compute/disks/beginGetAccess/action", f"{RG}/providers/Microsoft.Compute/disks/vm-web-1-osdisk", "admin"),
    ("Microsoft.EventHub/namespaces/eventhubs/delete", f"{RG}/providers/Microsoft.EventHub/namespaces/ehns-logs/eventhubs/activity", "admin"),
    ("Microsoft.Network/firewallPolicies/delete", f"{RG}/providers/Microsoft.Network/firewallPolicies/fwp-hub", "admin"),
    ("Microsoft.KeyVault/vaults/certificates/read", f"{KV}/certificates/tls-web", "admin"),
    ("Microsoft.KeyVault/vaults/delete", KV, "admin"),
    ("Microsoft.KeyVault/vaults/keys/read/action", f"{KV}/keys/signing-key", "admin"),
    ("Microsoft.KeyVault/vaults/keys/restore/action", f"{KV}/keys/signing-key", "admin"),
    ("Microsoft.KeyVault/vaults/keys/recover/action", f"{KV}/keys/signing-key", "admin"),
    ("Microsoft.KeyVault/vaults/keys/purge/action", f"{KV}/keys/signing-key", "admin"),
    ("Microsoft.KeyVault/vaults/keys/write", f"{KV}/keys/signing-key", "admin"),  # near miss
    ("Microsoft.KeyVault/locations/deletedVaults/purge/action", f"{SUBSCRIPTION}/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/kv-old", "admin"),
    ("Microsoft.KeyVault/vaults/secrets/getSecret/action", f"{KV}/secrets/db-password", "admin"),
    ("Microsoft.KeyVault/vaults/secrets/recover/action", f"{KV}/secrets/db-password", "admin"),
    ("Microsoft.KeyVault/vaults/secrets/restore/action", f"{KV}/secrets/db-password", "admin"),
    (f"Microsoft.Kubernetes/connectedClusters/{K8S}/rolebindings/write", f"{ARC}/{K8S}/rolebindings/dev-edit", "admin"),
    (f"Microsoft.Kubernetes/connectedClusters/{K8S}/clusterrolebindings/write", f"{ARC}/{K8S}/clusterrolebindings/root", "admin"),
    (f"Microsoft.ContainerService/managedClusters/{K8S}/rolebindings/write", f"{AKS}/{K8S}/rolebindings/dev-edit", "admin"),
    (f"Microsoft.ContainerService/managedClusters/{K8S}/clusterrolebindings/write", f"{AKS}/{K8S}/clusterrolebindings/root", "admin"),
    ("Microsoft.OperationalInsights/workspaces/delete", f"{RG}/providers/Microsoft.OperationalInsights/workspaces/law-sec", "admin"),
    ("Microsoft.Network/publicIPAddresses/read", f"{RG}/providers/Microsoft.Network/publicIPAddresses/pip-web", "admin"),
    ("Microsoft.Compute/virtualMachines/read", VM, "admin"),
    ("Microsoft.Network/networkWatchers/packetCaptures/write", f"{NW}/packetCaptures/pc-1", "admin"),
    ("Microsoft.Network/networkWatchers/startPacketCapture/action", NW, "admin"),
    ("Microsoft.Network/networkWatchers/vpnConnections/startPacketCapture/action", f"{NW}/vpnConnections/vpn-1", "admin"),
    ("Microsoft.Network/networkSecurityGroup/read", NSG, "admin"),
    ("Microsoft.Network/networkWatchers/delete", NW, "admin"),
    ("Microsoft.Network/networkSecurityGroups/write", NSG, "admin"),
    ("Microsoft.Network/networkSecurityGroups/delete", NSG, "admin"),
    ("Microsoft.Network/networkSecurityGroups/securityRules/write", f"{NSG}/securityRules/allow-rdp", "admin"),
    ("Microsoft.Network/networkSecurityGroups/securityRules/delete", f"{NSG}/securityRules/deny-all", "admin"),
    ("Microsoft.Network/networkSecurityGroups/join/action", NSG, "admin"),
    ("Microsoft.Network/networkSecurityGroups/providers/Microsoft.Insights/diagnosticSettings/write", f"{NSG}/providers/Microsoft.Insights/diagnosticSettings/ds", "admin"),
    ("Microsoft.Authorization/policies/deployIfNotExists/action", f"{SUBSCRIPTION}/providers/Microsoft.Authorization/policyAssignments/diag-to-law/policyDefinitions/deploy-diag", "admin"),
    ("Microsoft.Authorization/policies/audit/action", VM, "policy"),
    ("Microsoft.Authorization/policies/auditIfNotExists/action", SA, "policy"),
    ("Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/delete", f"{RG}/providers/Microsoft.RecoveryServices/vaults/rsv-1/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rg-prod;vm-web-1", "admin"),
    ("Microsoft.Resources/subscriptions/resourceGroups/delete", f"{SUBSCRIPTION}/resourceGroups/rg-app", "admin"),
    ("Microsoft.Authorization/locks/delete", f"{RG}/providers/Microsoft.Authorization/locks/do-not-delete", "admin"),
    ("Microsoft.Authorization/locks/delete", f"{SUBSCRIPTION}/providers/Microsoft.Authorization/locks/sub-lock", "admin"),
    ("Microsoft.Compute/restorePointCollections/delete", f"{RG}/providers/Microsoft.Compute/restorePointCollections/rpc-vm-web-1", "admin"),
    ("Microsoft.Authorization/roleAssignments/write", f"{SUBSCRIPTION}/providers/Microsoft.Authorization/roleAssignments/a1b2c3d4-0000-4000-8000-000000000001", "role"),
    ("Microsoft.Authorization/elevateAccess/action", "/providers/Microsoft.Authorization", "eventdata"),
    ("Microsoft.Web/sites/hostruntime/host/action", f"{RG}/providers/Microsoft.Web/sites/func-app/hostruntime/host/default", "admin"),
    ("Microsoft.Sql/servers/delete", f"{RG}/providers/Microsoft.Sql/servers/sql-1", "admin"),
    ("Microsoft.Storage/storageAccounts/delete", SA, "admin"),
    ("Microsoft.Storage/storageAccounts/write", SA, "storage_write"),
    ("Microsoft.Storage/storageAccounts/regenerateKey/action", SA, "regenerate"),
    ("Microsoft.Storage/storageAccounts/listKeys/action", SA, "admin"),
    ("Microsoft.Storage/storageAccounts/blobServices/write", f"{SA}/blobServices/default", "blob_service"),
    ("Microsoft.Storage/storageAccounts/blobServices/containers/write", f"{SA}/blobServices/default/containers/backups", "container"),
    ("Microsoft.Storage/storageAccounts/fileServices/shares/write", f"{SA}/fileServices/default/shares/profiles", "admin"),
    ("Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/delete", f"{SA}/blobServices/default/containers/legal/immutabilityPolicies/default", "admin"),
    ("Microsoft.Network/virtualNetworks/delete", f"{RG}/providers/Microsoft.Network/virtualNetworks/vnet-hub", "admin"),
    ("Microsoft.Compute/virtualMachines/runCommand/action", VM, "admin"),
    ("Microsoft.Compute/virtualMachines/extensions/write", f"{VM}/extensions/CustomScriptExtension", "admin"),
    ("Microsoft.Compute/galleries/applications/versions/write", f"{RG}/providers/Microsoft.Compute/galleries/gal1/applications/agent/versions/1.0.0", "admin"),
    ("Microsoft.ContainerService/managedClusters/runCommand/action", AKS, "admin"),
    ("Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommand/action", f"{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-1/virtualMachines/3", "admin"),
    ("Microsoft.SerialConsole/serialPorts/connect/action", f"{VM}/providers/Microsoft.SerialConsole/serialPorts/0", "admin"),
    ("Microsoft.Compute/virtualMachines/delete", VM, "admin"),
    ("Microsoft.Compute/virtualMachines/start/action", VM, "admin"),  # near miss
    ("Microsoft.Compute/snapshots/delete", f"{RG}/providers/Microsoft.Compute/snapshots/snap-1", "admin"),
    ("GetBlob", f"{SA}/blobServices/default", "storage_log"),
    ("PutBlob", f"{SA}/blobServices/default", "storage_log"),
    ("DeleteBlob", f"{SA}/blobServices/default", "storage_log"),
    ("GetBlobProperties", f"{SA}/blobServices/default", "storage_log"),
    ("SetBlobMetadata", f"{SA}/blobServices/default", "storage_log"),
]

# Built-in role definition ids [ROLE]: privileged, elevated, and one that is neither (Reader).
ROLES = ["8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c",
         "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
         "00482a5a-887f-4fb3-b363-3b7fe8e74483", "4633458b-17de-408a-b874-0445c86b69e6",
         "acdd72a7-3385-48ef-bd42-f606fba81ae7"]
AGENTS = ["azsdk-python-storage-blob/12.19.0 Python/3.11.7 (Linux)", "curl/8.4.0", "Wget/1.21",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "AzCopy/10.22.0", "PowerShell/7.4",
          "Microsoft Azure Storage Explorer", "", None, 5, ["curl"]]


def with_field(rec, key, value):
    rec = copy.deepcopy(rec)
    if value is MISSING:
        rec.pop(key, None)
    else:
        rec[key] = value
    return rec


def _uuid(rng):
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _time(rng):
    return "2025-%02d-%02dT%02d:%02d:%02d.%07dZ" % (rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                                                   rng.randint(0, 59), rng.randint(0, 59), rng.randrange(10**7))


def identity(rng, op, rid):
    """[AL] identity: the RBAC decision and the caller's token claims."""
    return {
        "authorization": {"scope": rid, "action": op,
                          "evidence": {"role": "Contributor", "roleAssignmentScope": SUBSCRIPTION,
                                       "roleAssignmentId": _uuid(rng).replace("-", ""),
                                       "roleDefinitionId": ROLES[1].replace("-", ""),
                                       "principalId": _uuid(rng), "principalType": "User"}},
        "claims": {"aud": "https://management.core.windows.net/", "iss": f"https://sts.windows.net/{TENANT}/",
                   "name": rng.choice(["Ana Ops", "deploy-sp", "J\u00f6rg M\u00fcller"]),
                   "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "ana@contoso.example",
                   "ipaddr": "52.168.10.20", "appid": _uuid(rng)},
    }


def request_body(kind, rng):
    """[ARM] request bodies, as the objects the JSON string in properties.requestbody holds."""
    if kind == "storage_write":
        props = rng.choice([{"allowSharedKeyAccess": True}, {"allowSharedKeyAccess": False},
                            {"networkAcls": {"bypass": "AzureServices", "defaultAction": "Allow"}},
                            {"networkAcls": {"defaultAction": "Deny"}}, {"supportsHttpsTrafficOnly": False},
                            {"supportsHttpsTrafficOnly": True}, {"allowBlobPublicAccess": True},
                            {"allowBlobPublicAccess": False, "minimumTlsVersion": "TLS1_2"}])
        body = {"properties": props}
        if rng.random() < 0.3:
            body = {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": "eastus", **body}
        return body
    if kind == "blob_service":
        return {"properties": rng.choice([
            {"isVersioningEnabled": False}, {"isVersioningEnabled": True},
            {"deleteRetentionPolicy": {"enabled": False}}, {"deleteRetentionPolicy": {"enabled": True, "days": 7}},
            {"containerDeleteRetentionPolicy": {"enabled": False}}, {"publicAccess": "Blob"},
            {"publicAccess": "Container"}, {"publicAccess": "None"}])}
    if kind == "container":
        return {"properties": {"publicAccess": rng.choice(["Blob", "Container", "None", "blob"])}}
    if kind == "regenerate":
        return {"keyName": rng.choice(["key1", "key2", "kerb1"])}
    if kind == "role":
        return {"Id": "a1b2c3d4-0000-4000-8000-000000000001",
                "Properties": {"PrincipalId": "770797c4-0000-4000-8000-0000000000aa",
                               "PrincipalType": rng.choice(["User", "ServicePrincipal", "Group"]),
                               "RoleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{rng.choice(ROLES)}",
                               "Scope": SUBSCRIPTION}}
    return None


def base_record(kind, op, rid, rng):
    if kind == "storage_log":
        return storage_log(op, rid, rng)
    if kind == "eventdata":
        return eventdata(op, rid, rng)
    category = {"policy": "Policy", "recommendation": "Recommendation"}.get(kind, "Administrative")
    rec = {
        "time": _time(rng), "resourceId": rid, "operationName": op, "category": category,
        "resultType": "Success", "resultSignature": "Succeeded.OK", "durationMs": rng.randint(5, 4000),
        "callerIpAddress": rng.choice(["52.168.10.20", "2603:1030:20e:3::23c", "10.0.0.4"]),
        "correlationId": _uuid(rng), "identity": identity(rng, op, rid),
        "level": "Information", "location": "global",
        "properties": {"statusCode": "OK", "serviceRequestId": _uuid(rng), "eventCategory": category,
                       "entity": rid, "message": op, "hierarchy": f"{TENANT}/mg-root/{SUB}"},
        "tenantId": TENANT,
    }
    body = request_body(kind, rng)
    if body is not None:
        rec["properties"]["requestbody"] = json.dumps(body, separators=(",", ":"))
        rec["properties"]["responseBody"] = json.dumps({"id": rid, "name": rid.rsplit("/", 1)[-1]})
    if kind == "policy":  # [AL] Policy category: the evaluated policies as a JSON string
        rec["level"] = "Warning"
        rec["resultType"] = "Success"
        rec["properties"].update({
            "isComplianceCheck": "False", "resourceLocation": "eastus", "ancestors": "mg-root",
            "policies": json.dumps([{"policyDefinitionId": f"/providers/Microsoft.Authorization/policyDefinitions/{_uuid(rng)}",
                                     "policyDefinitionName": "audit-vm-managed-disks",
                                     "policyDefinitionDisplayName": "Audit VMs that do not use managed disks",
                                     "policyDefinitionEffect": "Audit",
                                     "policyAssignmentId": f"{SUBSCRIPTION}/providers/Microsoft.Authorization/policyAssignments/sec",
                                     "policyAssignmentName": "sec", "policyAssignmentScope": SUBSCRIPTION,
                                     "policyAssignmentParameters": {}}])})
    if kind == "recommendation":  # [AL] Recommendation category
        rec["resultDescription"] = "A security recommendation is available"
        rec["properties"] = {"recommendationSchemaVersion": "1.0", "recommendationCategory": "Security",
                             "recommendationImpact": "High",
                             "recommendationName": "Enable MFA for accounts with owner permissions",
                             "recommendationResourceLink": "https://portal.azure.com/#blade/Microsoft_Azure_Expert/RecommendationListBlade/5c3b9e2a",
                             "recommendationType": _uuid(rng)}
    return rec


def storage_log(op, rid, rng):
    """[SL] a storage resource log record; the URI carries SAS parameters [SAS]."""
    category = {"Get": "StorageRead", "Put": "StorageWrite", "Set": "StorageWrite"}.get(op[:3], "StorageDelete")
    account = "stprod01"
    return {
        "time": _time(rng), "resourceId": rid, "category": category, "operationName": op,
        "operationVersion": "2023-11-03", "schemaVersion": "1.0", "statusCode": rng.choice([200, 201, 202]),
        "statusText": "Success", "durationMs": rng.randint(1, 90),
        "callerIpAddress": rng.choice(["52.168.10.20:51234", "10.0.0.4:443", "8.8.8.8"]),
        "correlationId": _uuid(rng), "identity": {"type": "SAS", "tokenHash": "key1(6B1C2A)"},
        "location": "eastus", "protocol": "HTTPS", "resourceType": "Microsoft.Storage/storageAccounts/blobServices",
        "uri": f"https://{account}.blob.core.windows.net/backups/db.bak?sv=2022-11-02&se=2025-12-31T00%3A00%3A00Z&sr=b&sp={rng.choice(['r', 'rw', 'racwdl'])}&sig=AbCdEf%2Bg%3D",
        "properties": {"accountName": account, "userAgentHeader": rng.choice(AGENTS[:7]), "serviceType": "blob",
                       "objectKey": f"/{account}/backups/db.bak", "metricResponseType": "Success",
                       "serverLatencyMs": rng.randint(1, 50), "requestHeaderSize": 512, "responseBodySize": 1024,
                       "tlsVersion": "TLS 1.2"},
    }


def eventdata(op, rid, rng):
    """[ED] the REST form: operationName and status are {value, localizedValue} objects."""
    return {
        "authorization": {"action": op, "scope": rid}, "caller": "admin@contoso.example",
        "channels": "Operation", "claims": {"name": "Global Admin"}, "correlationId": _uuid(rng),
        "eventDataId": _uuid(rng), "eventName": {"value": "EndRequest", "localizedValue": "End request"},
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "eventTimestamp": _time(rng), "level": "Informational", "operationId": _uuid(rng),
        "operationName": {"value": op, "localizedValue": "Assigns the caller to User Access Administrator role"},
        "resourceId": rid, "status": {"value": "Succeeded", "localizedValue": "Succeeded"},
        "subStatus": {"value": "OK", "localizedValue": "OK (HTTP Status Code: 200)"},
        "identity": {"claims": {"name": "Global Admin"}},
        "submissionTimestamp": _time(rng), "tenantId": TENANT, "properties": {"statusCode": "OK"},
    }


ODD_BODIES = ["", "{not json", "null", "[]", "[1, 2]", "123", "\"text\"", "true", "{}",
              "{\"properties\": []}", "{\"properties\": null}", "{\"properties\": \"x\"}",
              "{\"Properties\": {\"allowSharedKeyAccess\": true}}", "{\"properties\": {\"networkAcls\": null}}",
              "{\"properties\": {\"networkAcls\": []}}", "{\"properties\": {\"deleteRetentionPolicy\": 5}}",
              "{\"properties\": {\"allowSharedKeyAccess\": true}, \"location\": null}",
              "{\"properties\": {\"allowSharedKeyAccess\": true}, \"location\": \"\"}",
              "{\"properties\": {\"allowSharedKeyAccess\": 1}}", "{\"properties\": {\"supportsHttpsTrafficOnly\": 0}}",
              "{\"properties\": {\"isVersioningEnabled\": false}, \"properties\": {}}",
              "{\"keyName\": null}", "{\"keyName\": [\"key1\"]}", "{\"keyName\": 1.0}", "{\"KeyName\": \"key2\"}",
              "{\"keyName\": {\"a\": [1, \"b\"]}}", "{\"keyName\": 18446744073709551616}",
              "{\"keyName\": NaN}", "{\"keyName\": -Infinity}", "{\"keyName\": 1e999}", "{\"keyName\": \"\\ud800\"}",
              "{\"properties\": {\"allowSharedKeyAccess\": true}, \"x\": NaN}", " {\"keyName\": \"k\"} ",
              "{\"keyName\": -0}", "\ufeff{}"]


def property_shapes(base, rng):
    """properties: requestbody as a JSON string, as an object, or odd; properties itself of
    another type or empty."""
    props = base.get("properties")
    out = []
    if isinstance(props, dict):
        body = props.get("requestbody")
        if isinstance(body, str):
            try:
                out.append(dict(props, requestbody=json.loads(body)))
            except ValueError:
                pass
        for odd in rng.sample(ODD_BODIES, 4):
            out.append(dict(props, requestbody=odd))
    out += [None, "", "text", [], [props], {}, 0]
    rng.shuffle(out)
    return out


from activity_specials import limit_records, raw_records, special_records  # noqa: E402,F401
