//! Port of Panther's `azure_kubernetes_rolebinding_created.py`
//! (`Azure.MonitorActivity.Kubernetes.RoleBindingCreated`).
//!
//! The operation is upper-cased (raising on a non-string) and must be one of the four
//! (cluster) role binding writes, with a successful `resultType`. The cluster name comes from
//! the `connectedClusters` segment, else (also when that segment's successor is empty) from
//! `managedClusters`; a truthy non-string `resourceId` raises in the title and the context.

use super::helpers::{
    azure_activity_alert_context, azure_activity_success, extract_resource_name_from_id,
};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_kubernetes_rolebinding_created.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Kubernetes.RoleBindingCreated",
        display_name: "Azure Kubernetes RoleBinding or ClusterRoleBinding Created",
        enabled: true,
        severity: Severity::Medium,
        description: "A Kubernetes RoleBinding or ClusterRoleBinding was written in an AKS or Arc-enabled cluster.",
        reference: "https://github.com/elastic/detection-rules/blob/main/rules/integrations/azure/privilege_escalation_kubernetes_aks_rolebinding_created.toml",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId", "location"],
        mitre: &["TA0004:T1078.004", "TA0003:T1098"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(RoleBindingCreated)
}

const ROLEBINDING_OPERATIONS: [&str; 4] = [
    "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/RBAC.AUTHORIZATION.K8S.IO/ROLEBINDINGS/WRITE",
    "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/RBAC.AUTHORIZATION.K8S.IO/CLUSTERROLEBINDINGS/WRITE",
    "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/RBAC.AUTHORIZATION.K8S.IO/ROLEBINDINGS/WRITE",
    "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/RBAC.AUTHORIZATION.K8S.IO/CLUSTERROLEBINDINGS/WRITE",
];

#[derive(Debug, Clone, Copy)]
pub struct RoleBindingCreated;

fn operation(event: &Record) -> Result<String, RuleError> {
    py::upper(py::get_or(event.fields(), "operationName", &EMPTY))
}

impl Logic for RoleBindingCreated {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = operation(event)?;
        Ok(ROLEBINDING_OPERATIONS.contains(&operation.as_str()) && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let binding_type = if operation(event)?.contains("CLUSTERROLEBINDINGS") {
            "ClusterRoleBinding"
        } else {
            "RoleBinding"
        };
        let default = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &default);
        let mut cluster_name =
            extract_resource_name_from_id(resource_id, "connectedClusters")?.unwrap_or("");
        if cluster_name.is_empty() {
            cluster_name = extract_resource_name_from_id(resource_id, "managedClusters")?
                .unwrap_or("<UNKNOWN_CLUSTER>");
        }
        Ok(Some(format!(
            "Azure Kubernetes {binding_type} Created in [{cluster_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let binding_type = if operation(event)?.contains("CLUSTERROLEBINDINGS") {
            "cluster_role_binding"
        } else {
            "role_binding"
        };
        context.insert("binding_type".into(), py::s(binding_type));
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let connected = extract_resource_name_from_id(resource_id, "connectedClusters")?;
        let (cluster_name, cluster_type) = match connected {
            Some(name) if !name.is_empty() => (Some(name), "arc_enabled"),
            _ => (
                extract_resource_name_from_id(resource_id, "managedClusters")?,
                "aks_managed",
            ),
        };
        if let Some(name) = cluster_name.filter(|n| !n.is_empty()) {
            context.insert("cluster_name".into(), py::s(name));
            context.insert("cluster_type".into(), py::s(cluster_type));
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // Every matching operation ends in ROLEBINDINGS/WRITE (CLUSTERROLEBINDINGS/WRITE too).
        Some(vec!["rolebindings/write".to_string()])
    }
}
