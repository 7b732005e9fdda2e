"""Rule-specific and limit records for gen_activity_records.py (sources as in its docstring)."""

import json

import activity_templates as T

SAS_URIS = [
    "https://stprod01.blob.core.windows.net/c/b.txt?sv=2022-11-02&sp=r&se=2025-12-31&sig=AbC%3D",
    "https://stprod01.blob.core.windows.net/c/b.txt?sp=rw&sig=x",
    "https://stprod01.blob.core.windows.net/c/b.txt?sp=racwdl&se=2025-01-01T00%3A00%3A00Z&sig=x",
    "https://stprod01.blob.core.windows.net/c/b.txt?SP=w&sig=x",
    "https://stprod01.blob.core.windows.net/c/b.txt?sp=r&sp=w&sig=x",
    "https://stprod01.blob.core.windows.net/c/b.txt?sp=%77&sig=x",
    "https://stprod01.blob.core.windows.net/c/b.txt?sp=r+a&sig=x",
    "https://stprod01.blob.core.windows.net/c/b.txt?sp=r;se=2025&sig=x",
    "https://stprod01.blob.core.windows.net/c/b.txt?sig=x#sp=w",
    "https://stprod01.blob.core.windows.net/c/b.txt?sp=&se=&sig=",
    "https://stprod01.blob.core.windows.net/c/sig=/b.txt",
    "https://stprod01.blob.core.windows.net/c/b.txt?sv=2022-11-02",
    "https://stprod01.blob.core.windows.net/c/b.txt?SIG=x&sp=w",
    "sig=", "?sp=d&sig=1", "", None, T.MISSING, ["sig="], {"sig=": 1}, 5,
]
STATUS_CODES = [200, 201, 202, 204, 206, 403, 409, 200.0, 409.0, "200", "409", True, None]


def _sas(rng):
    out = []
    base = T.storage_log("GetBlob", f"{T.SA}/blobServices/default", rng)
    for uri in SAS_URIS:
        for caller in rng.sample(["52.168.10.20:51234", "8.8.8.8", "10.0.0.4", "127.0.0.1:80",
                                  "::1", "[2603:1030::1]:443", "2603:1030:20e:3::23c", "100.64.1.1",
                                  "not-an-ip", "", None, ["52.1.2.3"], {"ip": "x"}, 7, "\uff11.2.3.4"], 4):
            out.append(dict(base, uri=uri, callerIpAddress=caller))
    for cat in ["StorageRead", "StorageWrite", "StorageDelete", "storageread", "Administrative", None]:
        for code in rng.sample(STATUS_CODES, 4):
            out.append(dict(base, category=cat, statusCode=code))
    for op in ["DeleteBlob", "PutBlob", "PutBlock", "CreateContainer", "SetBlobTier", "GetBlob",
               "DELETEBLOB", "Get\u017fecret", "Delete\u212aey", 7, None]:
        out.append(dict(base, operationName=op, uri=rng.choice(SAS_URIS[:3])))
    return out


def _storage_logs(rng):
    out = []
    for op in ["GetBlob", "PutBlob", "DeleteBlob", "getblob", "DELETEBLOB", "G\u0131tBlob",
               "Put\u0042lob", "putbl\u00f6b"]:
        base = T.storage_log(op, f"{T.SA}/blobServices/default", rng)
        for mrt in ["Success", "success", "ClientOtherError", "ServerTimeoutError", "", None, T.MISSING, 1]:
            p = T.with_field(base["properties"], "metricResponseType", mrt)
            out.append(dict(base, properties=p))
        for agent in T.AGENTS + [T.MISSING, "python-requests/2.31", "bash", "MyScript/1.0"]:
            p = T.with_field(base["properties"], "userAgentHeader", agent)
            out.append(dict(base, properties=p))
        for props in [None, "", "str", [], {}, {"metricResponseType": "Success"},
                      {"METRICRESPONSETYPE": "Success", "metricResponseType": "x"},
                      {"metricresponsetype": "Success", "ObjectKey": "/a/b", "objectKey": None}]:
            out.append(dict(base, properties=props))
    # CPK reads without the key: 409 BlobUsesCustomerSpecifiedEncryption
    base = T.storage_log("GetBlob", f"{T.SA}/blobServices/default", rng)
    for cat in ["StorageRead", "STORAGEREAD", "storageRead", "StorageWrite", None, T.MISSING]:
        for code in [409, 409.0, "409", 400]:
            for text in ["BlobUsesCustomerSpecifiedEncryption", "BLOBUSESCUSTOMERSPECIFIEDENCRYPTION",
                         "blobusescustomerspecifiedencryption ", None, T.MISSING]:
                rec = T.with_field(dict(base, statusCode=code), "statusText", text)
                rec = T.with_field(rec, "category", cat)
                rec["properties"] = dict(rec["properties"], metricResponseType="ClientOtherError")
                out.append(rec)
    return out + _sas(rng)


def _role_bodies():
    roles = T.ROLES
    path = "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/"
    out = []
    for r in roles:
        out.append({"Properties": {"RoleDefinitionId": path + r, "PrincipalId": "p-1", "PrincipalType": "User"}})
        out.append({"properties": {"roleDefinitionId": path + r.upper(), "principalId": "p-2"}})
    out += [
        {"Properties": {"RoleDefinitionId": "", "roleDefinitionId": path + roles[0]}},
        {"Properties": {}, "properties": {"RoleDefinitionId": path + roles[3]}},
        {"Properties": {"RoleDefinitionId": 5}}, {"Properties": {"RoleDefinitionId": [path + roles[0]]}},
        {"Properties": {"RoleDefinitionId": {"id": roles[0]}}}, {"Properties": {"RoleDefinitionId": None}},
        {"Properties": []}, {"Properties": "x"}, {"Properties": [1]}, {"PROPERTIES": {"RoleDefinitionId": roles[0]}},
        {"Properties": {"RoleDefinitionId": roles[0] + roles[4], "PrincipalId": 0, "PrincipalType": ["User"]}},
        {"properties": {"roleDefinitionId": roles[6], "principalType": "Group"}}, [], 0, "x",
    ]
    return out


def _roles(rng):
    out = []
    base = T.base_record("role", "Microsoft.Authorization/roleAssignments/write",
                         f"{T.SUBSCRIPTION}/providers/Microsoft.Authorization/roleAssignments/ra-1", rng)
    for body in _role_bodies():
        props = dict(base["properties"], requestbody=json.dumps(body))
        out.append(dict(base, properties=props))
        if isinstance(body, dict) and rng.random() < 0.4:
            out.append(dict(base, properties=dict(base["properties"], requestbody=body)))
        if rng.random() < 0.3:
            out.append(dict(base, properties=props, resultType=rng.choice(["Start", "Succeeded", None])))
    ed = T.eventdata("Microsoft.Authorization/elevateAccess/action", "/providers/Microsoft.Authorization", rng)
    for value in ["Microsoft.Authorization/elevateAccess/action", "MICROSOFT.AUTHORIZATION/ELEVATEACCESS/ACTION",
                  "microsoft.authorization/elevate\u0061ccess/action", "Microsoft.Authorization/elevateAcce\u00dfaction",
                  "Microsoft.Authorization/roleAssignments/write", 5, None, "", ["x"], {"v": 1}, T.MISSING]:
        for status in [{"value": "Succeeded"}, {"value": "Started"}, {"Value": "Succeeded"}, "Succeeded", None, T.MISSING]:
            op = dict(ed["operationName"])
            op = T.with_field(op, "value", value)
            out.append(T.with_field(dict(ed, operationName=op), "status", status))
    for ident in [{"claims": {"name": "x" * 1100}}, {"claims": {"name": None}}, {"claims": "c"}, None,
                  T.MISSING, {"Claims": {"NAME": ["a", 1]}}]:
        out.append(T.with_field(ed, "identity", ident))
    # operationName as a plain string in the EventData form, and as {value} in the [AL] form
    out.append(dict(ed, operationName="Microsoft.Authorization/elevateAccess/action"))
    out.append(dict(base, operationName={"value": "Microsoft.Authorization/roleAssignments/write"}))
    return out


def _policies(rng):
    out = []
    base = T.base_record("policy", "Microsoft.Authorization/policies/audit/action", T.VM, rng)
    pol = json.loads(base["properties"]["policies"])
    for policies in [json.dumps(pol), "[]", "[\"a\"]", "[1]", "{}", json.dumps(pol[0]), "not json", None,
                     T.MISSING, pol, pol[0], json.dumps([{"policyDefinitionDisplayName": None}]),
                     json.dumps([{"policyDefinitionDisplayName": 7}, {"x": 1}]), json.dumps([{}]),
                     json.dumps([{"PolicyDefinitionDisplayName": "case"}]), "[null]", "[[1]]"]:
        p = T.with_field(base["properties"], "policies", policies)
        out.append(dict(base, properties=p))
    for entity in [None, T.MISSING, "", 5, ["e"], {"id": "e"}, "\u00e9" * 1200]:
        out.append(dict(base, properties=T.with_field(base["properties"], "entity", entity)))
    for cat in ["Policy", "policy", "POLICY", "Administrative", None]:
        for level in ["Warning", "warning", "Informational", "Error", None]:
            out.append(dict(base, category=cat, level=level))
    for field, vals in [("isComplianceCheck", ["True", True, None, T.MISSING]),
                        ("resourceLocation", ["", None, T.MISSING, ["eastus"]]),
                        ("message", [None, T.MISSING, {"m": 1}])]:
        for v in vals:
            out.append(dict(base, properties=T.with_field(base["properties"], field, v)))
    for props in [None, "", "p", [], {}]:
        out.append(dict(base, properties=props))
    return out


def _advisor(rng):
    out = []
    base = T.base_record("recommendation", "Microsoft.Advisor/recommendations/available/action", T.VM, rng)
    for cat in ["Recommendation", "recommendation", "Administrative", None, T.MISSING]:
        for rc in ["Security", "security", "Cost", "HighAvailability", None, T.MISSING, ["Security"]]:
            p = T.with_field(base["properties"], "recommendationCategory", rc)
            out.append(T.with_field(dict(base, properties=p), "category", cat))
    for field in ["recommendationName", "recommendationImpact", "recommendationType", "recommendationResourceLink"]:
        for v in [None, T.MISSING, 1.25, {"a": None}, ["x", 2]]:
            out.append(dict(base, properties=T.with_field(base["properties"], field, v)))
    for rd in [None, T.MISSING, "", 0, ["d"]]:
        out.append(T.with_field(base, "resultDescription", rd))
    return out


def _storage_writes(rng):
    """Each request body property the storage rules read, in every value type, with and
    without location (present only when the account is created)."""
    out = []
    kinds = [("Microsoft.Storage/storageAccounts/write", T.SA,
              ["allowSharedKeyAccess", "supportsHttpsTrafficOnly", "allowBlobPublicAccess", "networkAcls"]),
             ("Microsoft.Storage/storageAccounts/blobServices/write", f"{T.SA}/blobServices/default",
              ["isVersioningEnabled", "deleteRetentionPolicy", "containerDeleteRetentionPolicy", "publicAccess"]),
             ("Microsoft.Storage/storageAccounts/blobServices/containers/write",
              f"{T.SA}/blobServices/default/containers/backups", ["publicAccess"])]
    values = [True, False, 0, 1, "true", "false", None, "Blob", "Container", "Allow", [],
              {"enabled": False}, {"enabled": 0}, {"enabled": None}, {"defaultAction": "Allow"},
              {"defaultAction": "allow"}, {"Enabled": False}, {"enabled": False, "days": 7}]
    for op, rid, fields in kinds:
        base = T.base_record("admin", op, rid, rng)
        for field in fields:
            for v in values:
                for loc in [T.MISSING, None, rng.choice(["eastus", ""])]:
                    body = {"properties": {field: v}}
                    if loc is not T.MISSING:
                        body["location"] = loc
                    as_object = rng.random() < 0.1
                    props = dict(base["properties"], requestbody=body if as_object else json.dumps(body))
                    for result in ["Succeeded", rng.choice(["Success", "Failure", "Start"])]:
                        out.append(dict(base, properties=props, resultType=result))
    positives = [("Microsoft.Storage/storageAccounts/write", {"allowSharedKeyAccess": True}),
                 ("Microsoft.Storage/storageAccounts/write", {"networkAcls": {"defaultAction": "Allow"}}),
                 ("Microsoft.Storage/storageAccounts/write", {"supportsHttpsTrafficOnly": False}),
                 ("Microsoft.Storage/storageAccounts/write", {"allowBlobPublicAccess": True}),
                 ("Microsoft.Storage/storageAccounts/blobServices/write", {"isVersioningEnabled": False}),
                 ("Microsoft.Storage/storageAccounts/blobServices/write", {"deleteRetentionPolicy": {"enabled": False}}),
                 ("Microsoft.Storage/storageAccounts/blobServices/write", {"containerDeleteRetentionPolicy": {"enabled": False}}),
                 ("Microsoft.Storage/storageAccounts/blobServices/write", {"publicAccess": "Container"}),
                 ("Microsoft.Storage/storageAccounts/blobServices/containers/write", {"publicAccess": "Blob"})]
    for op, props in positives:
        base = T.base_record("admin", op, T.SA + "/blobServices/default/containers/c1", rng)
        for rid in [T.SA, T.SA.upper(), f"{T.SA}/blobServices/default/containers/", T.SA.rsplit("/", 1)[0],
                    f"{T.RG}/providers/Microsoft.Storage/storageAccounts/st\u00e4", "", None, ["x"]]:
            body = json.dumps({"properties": props, "tags": {"env": "prod"}})
            rec = dict(base, resourceId=rid, properties=dict(base["properties"], requestbody=body))
            out.append(dict(rec, resultType=rng.choice(["Success", "Succeeded"])))
    base = T.base_record("regenerate", "Microsoft.Storage/storageAccounts/regenerateKey/action", T.SA, rng)
    bodies = [json.dumps({"keyName": k}) for k in ["key1", "kerb2", "", None, 3, ["key1"], {"k": 1}, "\u00e9" * 990]]
    # JSON that Python's json.loads accepts and a strict parser does not
    bodies += ['{"keyName": NaN}', '{"keyName": Infinity}', '{"keyName": 1e999}', '{"keyName": "\\ud800"}',
               '{"keyName": "key1", "x": NaN}', '{"keyName": "k", "n": 18446744073709551616}']
    for body in bodies:
        out.append(dict(base, properties=dict(base["properties"], requestbody=body)))
    base = T.base_record("admin", "Microsoft.Storage/storageAccounts/write", T.SA, rng)
    for body in ['{"properties": {"allowSharedKeyAccess": true}, "x": NaN}',
                 '{"properties": {"supportsHttpsTrafficOnly": false}, "x": -Infinity}',
                 '{"properties": {"networkAcls": {"defaultAction": "Allow"}}, "s": "\\udfff"}']:
        out.append(dict(base, properties=dict(base["properties"], requestbody=body)))
    return out


def special_records(rng):
    return _storage_logs(rng) + _roles(rng) + _policies(rng) + _advisor(rng) + _storage_writes(rng)


LONG_TITLE_OPS = [
    ("Microsoft.KeyVault/vaults/keys/read/action", f"{T.KV}/keys/", "admin"),
    ("Microsoft.KeyVault/vaults/delete", f"{T.RG}/providers/Microsoft.KeyVault/vaults/", "admin"),
    ("Microsoft.Insights/alertRules/delete", f"{T.RG}/providers/Microsoft.Insights/alertRules/", "admin"),
    ("Microsoft.Compute/virtualMachines/delete", f"{T.RG}/providers/Microsoft.Compute/virtualMachines/", "admin"),
    ("Microsoft.Network/networkSecurityGroup/read", f"{T.RG}/providers/Microsoft.Network/networkSecurityGroups/", "admin"),
    ("GetBlob", f"{T.RG}/providers/Microsoft.Storage/storageAccounts/", "storage_log"),
]


KV_KEY_OVERHEAD = 524  # measured with panther_core; an error only moves the sweep


def limit_records(rng):
    """Titles and dedup strings around Panther's 1,000-character cut (code points: é and 😀
    count one each), and alert contexts around its 200 KiB limit (json.dumps length:
    escapes count in full, so DEL, é and 😀 weigh 6, 6 and 12)."""
    out = []
    for op, prefix, kind in LONG_TITLE_OPS:
        for n in list(range(930, 1000, 5)) + [1200]:
            for ch in ["a", "\u00e9", "\U0001f600"]:
                if ch != "a" and n % 3:
                    continue
                rec = T.base_record(kind, op, prefix + ch * n, rng)
                rec["resultType"] = "Success"
                if n % 2:
                    rec["callerIpAddress"] = "c" * (n - 900)
                out.append(rec)
    big_ops = [("Microsoft.KeyVault/vaults/keys/read/action", f"{T.KV}/keys/k"),
               ("Microsoft.KeyVault/vaults/delete", T.KV), ("Microsoft.Compute/disks/delete", f"{T.RG}/d/disks/d1"),
               ("Microsoft.Authorization/locks/delete", f"{T.RG}/providers/Microsoft.Authorization/locks/l")]
    sizes = [("x", 203200), ("x", 203900), ("x", 204300), ("x", 204700), ("x", 260000),
             ("\x7f", 34200), ("\u00e9", 34000), ("\u00e9", 33700), ("\U0001f600", 17000),
             ("\n", 101000), ("\"", 101000), ("\x01", 33800)]
    # The seed rule's context for this record is KV_KEY_OVERHEAD characters plus the blob's
    # json.dumps length: sweep each weight class across the limit, one character at a time.
    for ch, weight in [("x", 1), ("\u00e9", 6), ("\U0001f600", 12), ("\"", 2), ("\x7f", 6), ("\x01", 6)]:
        n0 = (200 * 1024 - KV_KEY_OVERHEAD) // weight
        sizes += [(ch, n) for n in range(n0 - 2, n0 + 3)]
    for op, rid in big_ops:
        for ch, n in sizes if op == big_ops[0][0] else sizes[:12]:
            rec = T.base_record("admin", op, rid, rng)
            rec["callerIpAddress"] = "52.168.10.20"
            rec["properties"] = {"blob": ch * n, "statusCode": "OK"}
            out.append(rec)
    return out


def raw_records():
    """Records as JSON text: duplicate keys (the last wins in both parsers), -0 and keys that
    serde_json reads specially."""
    op = "Microsoft.KeyVault/vaults/keys/read/action"
    rid = f"{T.KV}/keys/signing-key"
    out = []
    for ops in [("x", op), (op, "x"), (op, op.upper())]:
        out.append('{"operationName": "%s", "resultType": "Success", "operationName": "%s", '
                   '"resourceId": "%s"}' % (ops[0], ops[1], rid))
    out.append('{"operationName": "%s", "resultType": "Failure", "resultType": "Success", '
               '"callerIpAddress": -0, "resourceId": "%s", "properties": {"n": -0, "m": -0.0}}' % (op, rid))
    out.append('{"operationName": "%s", "resultType": "Success", "callerIpAddress": -0.0, '
               '"resourceId": "%s", "properties": {"a": 1, "a": 2}}' % (op, rid))
    out.append('{"operationName": "%s", "resultType": "Success", "callerIpAddress": 1180591620717411303424, '
               '"properties": {"big": -99999999999999999999, "ok": 18446744073709551615}}' % op)
    out.append('{"operationName": "Microsoft.Storage/storageAccounts/regenerateKey/action", '
               '"resultType": "Success", "resourceId": "%s", "properties": {"requestbody": '
               '"{\\"keyName\\": -0}"}}' % T.SA)
    # serde_json's `Value` reads an object led by its private tokens as a number or a raw value
    # (or refuses it); json.loads, and hubwatch, see a plain object.
    out.append('{"operationName": "%s", "resultType": "Success", "resourceId": "%s", '
               '"callerIpAddress": {"$serde_json::private::Number": "12"}, '
               '"properties": {"$serde_json::private::RawValue": "[1]", "n": 1}}' % (op, rid))
    out.append('{"operationName": "%s", "resultType": "Success", "resourceId": "%s", '
               '"properties": {"k": {"$serde_json::private::Number": "1.5$"}}}' % (op, rid))
    out.append('{"operationName": "Microsoft.Storage/storageAccounts/regenerateKey/action", '
               '"resultType": "Success", "resourceId": "%s", "properties": {"requestbody": '
               '"{\\"keyName\\": {\\"$serde_json::private::Number\\": \\"1\\"}}"}}' % T.SA)
    return out
