//! Ports of Panther's Azure Activity rules (`rules/azure_activity_rules` of panther-analysis).
//!
//! One file per upstream rule, named as its Python file; each follows the Python statement by
//! statement through [`py`](crate::rules::py) and [`helpers`], so that it raises where the
//! Python raises and renders values as the Python renders them. A port carries the upstream
//! rule's facts ([`Meta`](super::Meta)) so that it runs without its YAML; a Panther checkout's
//! YAML, when given, binds to the port by `Filename` instead.

pub mod helpers;

mod azure_action_groups_deleted;
mod azure_advisor_security_recommendation;
mod azure_alert_rules_deleted;
mod azure_alert_suppression_rule_created;
mod azure_automation_account_created;
mod azure_automation_runbook_created_or_modified;
mod azure_automation_runbook_deleted;
mod azure_automation_schedule_created;
mod azure_automation_webhook_created;
mod azure_diagnostic_settings_deleted;
mod azure_disk_deleted;
mod azure_event_hub_deleted;
mod azure_firewall_policy_deleted;
mod azure_keyvault_certificate_accessed;
mod azure_keyvault_deleted;
mod azure_keyvault_key_accessed_or_recovered;
mod azure_keyvault_key_purged;
mod azure_keyvault_purged;
mod azure_keyvault_secret_accessed_or_recovered;
mod azure_kubernetes_rolebinding_created;
mod azure_log_analytics_workspace_deleted;
mod azure_network_ip_discovery;
mod azure_network_packet_capture_enabled;
mod azure_network_port_mapping;
mod azure_network_watcher_deleted;
mod azure_nsg_deleted_or_modified;
mod azure_policy_deployifnotexists;
mod azure_policy_violation;
mod azure_recovery_services_container_deleted;
mod azure_resource_group_deleted;
mod azure_resource_lock_deleted;
mod azure_restore_point_collection_deleted;
mod azure_role_assignment_privileged_or_elevated;
mod azure_serverless_execution;
mod azure_sql_server_deleted;
mod azure_storage_account_deleted;
mod azure_storage_account_key_access_enabled;
mod azure_storage_account_key_regenerated;
mod azure_storage_account_keys_listed;
mod azure_storage_account_public_network_access_enabled;
mod azure_storage_account_versioning_disabled;
mod azure_storage_blob_anonymous_access_enabled;
mod azure_storage_blob_bulk_deletion;
mod azure_storage_blob_bulk_extraction;
mod azure_storage_blob_cpk_encryption_detected;
mod azure_storage_blob_permissions_modified;
mod azure_storage_blob_soft_delete_disabled;
mod azure_storage_blob_uploaded;
mod azure_storage_container_soft_delete_disabled;
mod azure_storage_fileshare_modified;
mod azure_storage_https_only_disabled;
mod azure_storage_immutability_policy_deleted;
mod azure_storage_sas_external_access;
mod azure_virtual_network_deleted;
mod azure_vm_command_executed;
mod azure_vm_deleted;
mod azure_vm_disk_sas_uri_generated;
mod azure_vm_snapshot_deleted;

use super::Port;

/// Every port; `None` for a rule that has no port yet.
const PORTS: &[Option<Port>] = &[
    azure_action_groups_deleted::PORT,
    azure_advisor_security_recommendation::PORT,
    azure_alert_rules_deleted::PORT,
    azure_alert_suppression_rule_created::PORT,
    azure_automation_account_created::PORT,
    azure_automation_runbook_created_or_modified::PORT,
    azure_automation_runbook_deleted::PORT,
    azure_automation_schedule_created::PORT,
    azure_automation_webhook_created::PORT,
    azure_diagnostic_settings_deleted::PORT,
    azure_disk_deleted::PORT,
    azure_event_hub_deleted::PORT,
    azure_firewall_policy_deleted::PORT,
    azure_keyvault_certificate_accessed::PORT,
    azure_keyvault_deleted::PORT,
    azure_keyvault_key_accessed_or_recovered::PORT,
    azure_keyvault_key_purged::PORT,
    azure_keyvault_purged::PORT,
    azure_keyvault_secret_accessed_or_recovered::PORT,
    azure_kubernetes_rolebinding_created::PORT,
    azure_log_analytics_workspace_deleted::PORT,
    azure_network_ip_discovery::PORT,
    azure_network_packet_capture_enabled::PORT,
    azure_network_port_mapping::PORT,
    azure_network_watcher_deleted::PORT,
    azure_nsg_deleted_or_modified::PORT,
    azure_policy_deployifnotexists::PORT,
    azure_policy_violation::PORT,
    azure_recovery_services_container_deleted::PORT,
    azure_resource_group_deleted::PORT,
    azure_resource_lock_deleted::PORT,
    azure_restore_point_collection_deleted::PORT,
    azure_role_assignment_privileged_or_elevated::PORT,
    azure_serverless_execution::PORT,
    azure_sql_server_deleted::PORT,
    azure_storage_account_deleted::PORT,
    azure_storage_account_key_access_enabled::PORT,
    azure_storage_account_key_regenerated::PORT,
    azure_storage_account_keys_listed::PORT,
    azure_storage_account_public_network_access_enabled::PORT,
    azure_storage_account_versioning_disabled::PORT,
    azure_storage_blob_anonymous_access_enabled::PORT,
    azure_storage_blob_bulk_deletion::PORT,
    azure_storage_blob_bulk_extraction::PORT,
    azure_storage_blob_cpk_encryption_detected::PORT,
    azure_storage_blob_permissions_modified::PORT,
    azure_storage_blob_soft_delete_disabled::PORT,
    azure_storage_blob_uploaded::PORT,
    azure_storage_container_soft_delete_disabled::PORT,
    azure_storage_fileshare_modified::PORT,
    azure_storage_https_only_disabled::PORT,
    azure_storage_immutability_policy_deleted::PORT,
    azure_storage_sas_external_access::PORT,
    azure_virtual_network_deleted::PORT,
    azure_vm_command_executed::PORT,
    azure_vm_deleted::PORT,
    azure_vm_disk_sas_uri_generated::PORT,
    azure_vm_snapshot_deleted::PORT,
];

/// The ported rules.
pub fn ports() -> impl Iterator<Item = &'static Port> {
    PORTS.iter().flatten()
}
