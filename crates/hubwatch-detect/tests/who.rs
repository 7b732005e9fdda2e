//! `actor` and entities over real record shapes of both log kinds, and over hostile ones.
//!
//! Records are trimmed copies of published samples (the source is named above each); values
//! are theirs, including their redactions.

use hubwatch_detect::actor::Actor;
use hubwatch_detect::entities;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// `(actor, entities)` of a record, as JSON.
fn who(record: Value) -> (Value, Value) {
    let record: Map<String, Value> = serde_json::from_value(record).unwrap();
    let actor = Actor::from_record(&record);
    let entities = entities::from_record(&record, &actor);
    (
        serde_json::to_value(&actor).unwrap(),
        serde_json::to_value(&entities).unwrap(),
    )
}

#[test]
fn activity_log_user_with_upn_claim() {
    // SEKOIA-IO/intake-formats Azure/azure-activity-logs/tests/eventhub_administrative.json
    let (actor, entities) = who(json!({
        "time": "2025-11-03T15:15:30.0097057Z",
        "resourceId": "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/PROVIDERS/MICROSOFT.ALERTSMANAGEMENT",
        "operationName": "MICROSOFT.ALERTSMANAGEMENT/REGISTER/ACTION",
        "category": "Administrative",
        "resultType": "Success",
        "callerIpAddress": "1.2.3.4",
        "identity": {
            "authorization": {
                "scope": "/subscriptions/00000000-0000-0000-0000-000000000000",
                "action": "Microsoft.AlertsManagement/register/action",
                "evidence": {
                    "role": "Owner",
                    "roleAssignmentScope": "/subscriptions/00000000-0000-0000-0000-000000000000",
                    "principalId": "11111111111111111111111111111111",
                    "principalType": "User"
                }
            },
            "claims": {
                "appid": "00000000-0000-0000-0000-000000000000",
                "idtyp": "user",
                "name": "John Doe",
                "http://schemas.microsoft.com/identity/claims/objectidentifier": "00000000-0000-0000-0000-000000000000",
                "http://schemas.microsoft.com/identity/claims/tenantid": "00000000-0000-0000-0000-000000000000",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": "john.doe@example.onmicrosoft.com",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "john.doe@example.onmicrosoft.com"
            }
        },
        "tenantId": "00000000-0000-0000-0000-000000000000"
    }));
    let zero = "00000000-0000-0000-0000-000000000000";
    assert_eq!(
        actor,
        json!({
            "caller": "john.doe@example.onmicrosoft.com",
            "upn": "john.doe@example.onmicrosoft.com",
            "name": "John Doe",
            "appid": zero,
            "object_id": zero,
            "principal_id": "11111111111111111111111111111111",
            "principal_type": "User",
            "role": "Owner",
            "tenant_id": zero,
            "subscription_id": zero,
        })
    );
    assert_eq!(
        entities[0],
        json!({"Type": "account", "Name": "john.doe", "UPNSuffix": "example.onmicrosoft.com",
               "AadUserId": zero, "AadTenantId": zero})
    );
    assert_eq!(entities[1], json!({"Type": "ip", "Address": "1.2.3.4"}));
}

#[test]
fn activity_log_user_named_only_by_unique_name() {
    // open-telemetry/opentelemetry-collector-contrib
    // pkg/translator/azurelogs/testdata/administrative/valid_1.json: no `upn` claim, distinct ids.
    let (actor, entities) = who(json!({
        "time": "2025-04-15T10:16:32.9873441Z",
        "resourceId": "/SUBSCRIPTIONS/11111111-1111-1111-1111-111111111111/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/EXAMPLE-COLLECT-SAMPLE-LOGS",
        "operationName": "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/WRITE",
        "category": "Administrative",
        "callerIpAddress": "203.0.113.10",
        "identity": {
            "authorization": {
                "evidence": {
                    "role": "Owner",
                    "roleAssignmentScope": "/subscriptions/11111111-1111-1111-1111-111111111111",
                    "principalId": "55555555555555555555555555555555",
                    "principalType": "User"
                }
            },
            "claims": {
                "appid": "66666666-6666-6666-6666-666666666666",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": "user@example.com",
                "name": "John Doe",
                "http://schemas.microsoft.com/identity/claims/objectidentifier": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb",
                "http://schemas.microsoft.com/identity/claims/tenantid": "22222222-2222-2222-2222-222222222222",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": "user@example.com"
            }
        },
        "tenantId": "22222222-2222-2222-2222-222222222222"
    }));
    assert_eq!(actor["caller"], "user@example.com");
    assert_eq!(actor.get("upn"), None, "no upn claim, no upn");
    assert_eq!(actor["object_id"], "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb");
    assert_eq!(actor["principal_id"], "55555555555555555555555555555555");
    assert_eq!(
        actor["subscription_id"],
        "11111111-1111-1111-1111-111111111111"
    );
    assert_eq!(
        entities,
        json!([
            {"Type": "account", "Name": "user", "UPNSuffix": "example.com",
             "AadUserId": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb",
             "AadTenantId": "22222222-2222-2222-2222-222222222222"},
            {"Type": "ip", "Address": "203.0.113.10"},
            {"Type": "azure-resource",
             "ResourceId": "/SUBSCRIPTIONS/11111111-1111-1111-1111-111111111111/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/EXAMPLE-COLLECT-SAMPLE-LOGS",
             "SubscriptionId": "11111111-1111-1111-1111-111111111111"},
            {"Type": "cloud-application", "Name": "66666666-6666-6666-6666-666666666666"}
        ])
    );
}

#[test]
fn activity_log_service_principal() {
    // elastic/integrations packages/azure/data_stream/activitylogs/_dev/test/pipeline/
    // test-activitylogs-raw.log, first record: an app-only token, no name claims.
    let id = "8a4de8b5-095c-47d0-a96f-a75130c61d53";
    let (actor, entities) = who(json!({
        "callerIpAddress": "81.2.69.144",
        "category": "Action",
        "identity": {
            "authorization": {
                "action": "Microsoft.EventHub/namespaces/authorizationRules/listKeys/action",
                "evidence": {"principalId": id, "principalType": "ServicePrincipal",
                             "role": "Azure EventGrid Service BuiltIn Role",
                             "roleAssignmentScope": format!("/subscriptions/{id}")}
            },
            "claims": {
                "appid": id, "appidacr": "2",
                "http://schemas.microsoft.com/identity/claims/objectidentifier": id,
                "http://schemas.microsoft.com/identity/claims/tenantid": id,
                "ver": "1.0"
            }
        },
        "operationName": "MICROSOFT.EVENTHUB/NAMESPACES/AUTHORIZATIONRULES/LISTKEYS/ACTION",
        "resourceId": format!("/SUBSCRIPTIONS/{id}/RESOURCEGROUPS/SA-HEMA/PROVIDERS/MICROSOFT.EVENTHUB/NAMESPACES/AZURELSEVENTS/AUTHORIZATIONRULES/ROOTMANAGESHAREDACCESSKEY"),
        "time": "2019-10-24T00:13:46.3554259Z"
    }));
    assert_eq!(
        actor,
        json!({"caller": id, "appid": id, "object_id": id, "principal_id": id,
               "principal_type": "ServicePrincipal", "role": "Azure EventGrid Service BuiltIn Role",
               "tenant_id": id, "subscription_id": id})
    );
    assert_eq!(
        entities[0],
        json!({"Type": "account", "AadUserId": id, "AadTenantId": id})
    );
    assert_eq!(
        entities[3],
        json!({"Type": "cloud-application", "Name": id})
    );
}

#[test]
fn activity_log_rest_form_and_group_assignments() {
    // Microsoft Learn, "Azure Activity Log event schema", Administrative sample event (REST API
    // form: top-level `caller` and `claims`, `subscriptionId`); evidence added in the Event Hubs
    // form of the same page, with principalType Group to show it is not taken for the caller.
    let (actor, entities) = who(json!({
        "caller": "rob@contoso.com",
        "claims": {
            "appid": "00001111-aaaa-2222-bbbb-3333cccc4444",
            "name": "Rob Robertson",
            "http://schemas.microsoft.com/identity/claims/tenantid": "aaaabbbb-0000-cccc-1111-dddd2222eeee"
        },
        "identity": {"authorization": {"evidence": {
            "role": "Owner", "principalId": "abcdef038c6444c18f1c31311fabcdef", "principalType": "Group"
        }}},
        "resourceId": "/subscriptions/<subscription ID>/resourcegroups/myResourceGroup/providers/Microsoft.Network/networkSecurityGroups/myNSG",
        "subscriptionId": "<subscription ID>"
    }));
    assert_eq!(actor["caller"], "rob@contoso.com");
    assert_eq!(actor["name"], "Rob Robertson");
    assert_eq!(actor["principal_type"], "Group");
    assert_eq!(actor["subscription_id"], "<subscription ID>");
    assert_eq!(
        entities[0],
        json!({"Type": "account", "Name": "rob", "UPNSuffix": "contoso.com",
               "AadTenantId": "aaaabbbb-0000-cccc-1111-dddd2222eeee"}),
        "a group's id is never the caller's AadUserId"
    );
}

#[test]
fn audit_event_user_with_short_and_uri_claim_names() {
    // SEKOIA-IO/intake-formats Azure/azure-key-vault/tests/test_event_key_get.json (short names;
    // the object id is redacted, so it is no GUID and stays out of AadUserId).
    let (actor, entities) = who(json!({
        "time": "2024-04-03T14:02:45.0948723Z",
        "category": "AuditEvent",
        "operationName": "KeyGet",
        "callerIpAddress": "192.0.2.1",
        "identity": {"claim": {
            "oid": "d4ba3e84-0444-4841-aaf7-XXXX",
            "appid": "3686488a-04fc-4d8a-b967-61f98ec41efe",
            "scp": "user_impersonation",
            "xms_az_nwperimid": [],
            "upn": "john.doe@dummy.onmicrosoft.com",
            "unique_name": "john.doe@dummy.onmicrosoft.com"
        }},
        "resourceId": "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/test/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/test"
    }));
    assert_eq!(
        actor,
        json!({"caller": "john.doe@dummy.onmicrosoft.com", "upn": "john.doe@dummy.onmicrosoft.com",
               "appid": "3686488a-04fc-4d8a-b967-61f98ec41efe",
               "object_id": "d4ba3e84-0444-4841-aaf7-XXXX",
               "subscription_id": "00000000-0000-0000-0000-000000000000"})
    );
    assert_eq!(
        entities[0],
        json!({"Type": "account", "Name": "john.doe", "UPNSuffix": "dummy.onmicrosoft.com"})
    );

    // Microsoft Learn, "Azure Key Vault logging", sample entry (URI claim names, a guest UPN).
    let (actor, entities) = who(json!({
        "time": "2016-01-05T01:32:01.2691226Z",
        "resourceId": "/SUBSCRIPTIONS/361DA5D4-A47A-4C79-AFDD-XXXXXXXXXXXX/RESOURCEGROUPS/CONTOSOGROUP/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/CONTOSOKEYVAULT",
        "operationName": "VaultGet",
        "category": "AuditEvent",
        "callerIpAddress": "104.40.82.76",
        "identity": {"claim": {
            "http://schemas.microsoft.com/identity/claims/objectidentifier": "d9da5048-2737-4770-bd64-XXXXXXXXXXXX",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "live.com#username@outlook.com",
            "appid": "1950a258-227b-4e31-a9cf-XXXXXXXXXXXX"
        }}
    }));
    assert_eq!(actor["upn"], "live.com#username@outlook.com");
    assert_eq!(actor["object_id"], "d9da5048-2737-4770-bd64-XXXXXXXXXXXX");
    assert_eq!(
        actor["subscription_id"],
        "361DA5D4-A47A-4C79-AFDD-XXXXXXXXXXXX"
    );
    assert_eq!(entities[0]["Name"], "live.com#username");
    assert_eq!(entities[0]["UPNSuffix"], "outlook.com");
    assert_eq!(
        entities[1],
        json!({"Type": "ip", "Address": "104.40.82.76"})
    );
}

#[test]
fn audit_event_managed_identity() {
    // "Kubernetes Secrets Handbook" (Packt, 2024), chapter 9 "Auditing and logging": a KeyGet by
    // a user-assigned managed identity (the book elides parts of ids with "...").
    let (actor, entities) = who(json!({
        "time": "2023-08-30T09:07:19.8593007Z",
        "category": "AuditEvent",
        "operationName": "KeyGet",
        "resultType": "Success",
        "correlationId": "fa11ea42-67c0-47cd-8a6b-f7bcb349414f",
        "identity": {"claim": {
            "oid": "80dd018c-ede7-42f4-99a8-00e278868a7c",
            "appid": "b1967275-af7b-4d75-9804-c935ecb22226",
            "xms_mirid": "/subscriptions/.../userAssignedIdentities/keyvault-reader",
            "xms_az_nwperimid": []
        }}
    }));
    assert_eq!(
        actor,
        json!({"caller": "80dd018c-ede7-42f4-99a8-00e278868a7c",
               "appid": "b1967275-af7b-4d75-9804-c935ecb22226",
               "object_id": "80dd018c-ede7-42f4-99a8-00e278868a7c",
               "managed_identity": "/subscriptions/.../userAssignedIdentities/keyvault-reader"})
    );
    assert_eq!(
        entities,
        json!([{"Type": "account", "AadUserId": "80dd018c-ede7-42f4-99a8-00e278868a7c"},
               {"Type": "cloud-application", "Name": "b1967275-af7b-4d75-9804-c935ecb22226"}])
    );
}

#[test]
fn records_without_identity_give_an_empty_actor() {
    // Same book, same section: a KeyDecrypt by AKS KMS whose claims name no principal.
    let (actor, entities) = who(json!({
        "category": "AuditEvent", "operationName": "KeyDecrypt",
        "identity": {"claim": {"xms_az_rid": "/subscriptions/.../managedClusters/ksm-aks", "xms_az_nwperimid": []}}
    }));
    assert_eq!((actor, entities), (json!({}), json!([])));

    // open-telemetry/opentelemetry-collector-contrib
    // pkg/translator/azurelogs/testdata/cornercases/identity_as_string.json
    let (actor, entities) = who(json!({
        "time": "2022-11-11T04:48:27.6767145Z", "resourceId": "/RESOURCE_ID",
        "operationName": "SecretGet", "category": "NonExistentCategory", "identity": "John Doe"
    }));
    assert_eq!(actor, json!({}));
    assert_eq!(
        entities,
        json!([{"Type": "azure-resource", "ResourceId": "/RESOURCE_ID"}])
    );

    // elastic/integrations packages/azure/data_stream/activitylogs/_dev/test/pipeline/
    // test-activitylogs-identity.log (trimmed): a sign-in record, `identity` a display name.
    let (actor, entities) = who(json!({
        "callerIpAddress": "81.2.69.143", "category": "NonInteractiveUserSignInLogs",
        "identity": "Michell Lan",
        "resourceId": "/tenants/c7f1e3ce-ba66-40a7-91bd-9594b36223fc/providers/Microsoft.aadiam",
        "tenantId": "c7f1e3ce-ba66-40a7-91bd-9594b36223fc"
    }));
    assert_eq!(
        actor,
        json!({"tenant_id": "c7f1e3ce-ba66-40a7-91bd-9594b36223fc"})
    );
    assert_eq!(entities[0], json!({"Type": "ip", "Address": "81.2.69.143"}));
    assert_eq!(entities[1].get("SubscriptionId"), None);

    assert_eq!(who(json!({})), (json!({}), json!([])));
}

#[test]
fn keys_are_case_insensitive_and_odd_values_are_absent() {
    let (actor, entities) = who(json!({
        "IDENTITY": {"Claims": {"UPN": "a@b.example", "OID": 7, "AppId": null, "name": {"x": 1}}},
        "ResourceID": ["/subscriptions/s1"],
        "CallerIPAddress": "<Redacted>",
        "caller": "",
        "TenantId": "   ",
        "authorization": "Owner",
    }));
    assert_eq!(
        actor,
        json!({"caller": "a@b.example", "upn": "a@b.example"})
    );
    assert_eq!(
        entities,
        json!([{"Type": "account", "Name": "a", "UPNSuffix": "b.example"}])
    );

    // Arrays, strings and nulls where objects belong.
    for identity in [
        json!(null),
        json!([{"claims": {"upn": "x@y"}}]),
        json!({"claims": "upn=x@y"}),
        json!({"claim": [1, 2]}),
        json!({"authorization": {"evidence": "User"}}),
    ] {
        assert_eq!(
            who(json!({"identity": identity})),
            (json!({}), json!([])),
            "{identity}"
        );
    }

    // A megabyte UPN is no identity: dropped, not copied into the alert again.
    let huge = format!("{}@example.com", "a".repeat(1 << 20));
    assert_eq!(
        who(json!({"identity": {"claims": {"upn": huge}}})),
        (json!({}), json!([]))
    );
}

#[test]
fn duplicate_spellings_resolve_like_every_rule_lookup() {
    // Keys equal but for case are decided by `record::lookup`, the rules' own lookup.
    let claims = json!({"UPN": "first@example.com", "Upn": "second@example.com"});
    let expected = hubwatch_detect::record::lookup(claims.as_object().unwrap(), "upn").cloned();
    let (actor, _) = who(json!({"identity": {"claims": claims}}));
    assert_eq!(actor.get("upn").cloned(), expected);
}

#[test]
fn empty_actor_and_entities_serialise_as_empty_json() {
    assert_eq!(serde_json::to_string(&Actor::default()).unwrap(), "{}");
    let back: Actor = serde_json::from_str("{}").unwrap();
    assert!(back.is_empty());
}

#[test]
fn alerts_written_before_actor_existed_still_read() {
    // Dead letters hold alerts as JSON; older ones have no `actor` or `entities`.
    let old = json!({
        "alert_id": "a", "rule_id": "r", "title": "t", "severity": "HIGH", "dedup": "d",
        "resourceId": null, "callerIpAddress": null, "correlationId": null, "event_time": null,
        "detected_at": "2026-01-01T00:00:00Z", "window_start": "2026-01-01T00:00:00Z",
        "alert_context": {}, "display_name": "", "description": "", "runbook": "",
        "reference": "", "mitre": [], "tags": [], "log_types": [], "summary": {}, "event": {},
        "source": {"kind": "file", "path": "-", "line": 1}
    });
    let a: hubwatch_detect::alert::Alert = serde_json::from_value(old).unwrap();
    assert!(a.actor.is_empty());
    assert!(a.entities.is_empty());
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("upn"),
            Just("oid"),
            Just("claims"),
            Just("claim"),
            Just("evidence"),
            Just("/subscriptions/"),
            Just("@"),
            Just("1.2.3.4"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let key = prop_oneof![
            Just("identity".to_string()),
            Just("claims".to_string()),
            Just("Claim".to_string()),
            Just("authorization".to_string()),
            Just("evidence".to_string()),
            Just("upn".to_string()),
            Just("OID".to_string()),
            Just("appid".to_string()),
            Just("principalType".to_string()),
            Just("principalId".to_string()),
            "[a-z]{1,4}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_shape_derives_without_panicking(
        identity in json_value(), authorization in json_value(), resource in json_value(),
        ip in json_value(), caller in json_value(),
    ) {
        let (actor, entities) = who(json!({
            "identity": identity, "authorization": authorization, "resourceId": resource,
            "callerIpAddress": ip, "caller": caller, "claims": {"upn": "u@example.com"},
        }));
        // Whatever the shape, every value written is a non-empty string.
        for v in actor.as_object().unwrap().values() {
            prop_assert!(v.as_str().is_some_and(|s| !s.is_empty()));
        }
        for e in entities.as_array().unwrap() {
            prop_assert!(e["Type"].is_string());
        }
    }
}
