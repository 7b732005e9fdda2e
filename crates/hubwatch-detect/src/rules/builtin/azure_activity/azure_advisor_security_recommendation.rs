//! Port of Panther's `azure_advisor_security_recommendation.py`
//! (`Azure.MonitorActivity.Advisor.SecurityRecommendation`).
//!
//! `rule()` builds a list of three checks before `all()`, so every check runs: a non-string
//! operation name raises even when the category does not match. The category and the
//! recommendation category compare equal only to the exact strings. The title renders the
//! resource id with `str()`; the context copies the recommendation fields as found (`None`
//! when missing or `null`).

use super::helpers::azure_activity_alert_context;
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_advisor_security_recommendation.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Advisor.SecurityRecommendation",
        display_name: "Azure Advisor Security Recommendation Available",
        enabled: true,
        severity: Severity::Info,
        description: "Azure Advisor published a recommendation in its security category.",
        reference: "https://learn.microsoft.com/en-us/azure/advisor/advisor-overview",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &[
            "resourceId",
            "properties.recommendationName",
            "properties.recommendationImpact",
        ],
        mitre: &[],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(AdvisorSecurityRecommendation)
}

const ADVISOR_RECOMMENDATION_OPERATION: &str = "MICROSOFT.ADVISOR/RECOMMENDATIONS/AVAILABLE/ACTION";

#[derive(Debug, Clone, Copy)]
pub struct AdvisorSecurityRecommendation;

impl Logic for AdvisorSecurityRecommendation {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let f = event.fields();
        let operation = py::upper(py::get_or(f, "operationName", &EMPTY))?;
        let category = py::get_or(f, "category", &EMPTY);
        let recommendation = py::deep_get(f, &["properties", "recommendationCategory"]);
        Ok(operation == ADVISOR_RECOMMENDATION_OPERATION
            && py::eq_str(category, "Recommendation")
            && recommendation.is_some_and(|v| py::eq_str(v, "Security")))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get(event.fields(), "resourceId")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_RESOURCE>".to_string());
        Ok(Some(format!(
            "Azure Advisor Security Recommendation Available for [{resource_id}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let f = event.fields();
        for (key, field) in [
            ("recommendation_name", "recommendationName"),
            ("recommendation_impact", "recommendationImpact"),
            ("recommendation_category", "recommendationCategory"),
            ("recommendation_type", "recommendationType"),
            ("recommendation_link", "recommendationResourceLink"),
        ] {
            let v = py::deep_get(f, &["properties", field]).cloned();
            context.insert(key.into(), v.unwrap_or(Value::Null));
        }
        let description = py::get(f, "resultDescription").cloned();
        context.insert(
            "result_description".into(),
            description.unwrap_or(Value::Null),
        );
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // The operation, upper-cased, must equal the constant: in pure-ASCII text without
        // escapes its raw spelling is the constant in some casing.
        Some(vec![ADVISOR_RECOMMENDATION_OPERATION.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(v: Value) -> Result<bool, RuleError> {
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        AdvisorSecurityRecommendation.matches(&Record::new(&m))
    }

    #[test]
    fn matching_semantics() {
        let op = "Microsoft.Advisor/recommendations/available/action";
        let props = json!({"recommendationCategory": "Security"});
        assert_eq!(
            eval(json!({"operationName": op, "category": "Recommendation", "properties": props})),
            Ok(true)
        );
        assert_eq!(
            eval(json!({"operationName": op, "category": "recommendation", "properties": props})),
            Ok(false)
        );
        assert_eq!(
            eval(json!({"operationName": op, "category": "Recommendation",
                "properties": {"RECOMMENDATIONCATEGORY": "Security"}})),
            Ok(true)
        );
        // all([...]) evaluates every check: the operation raises even when nothing else matches.
        assert!(eval(json!({"operationName": 1, "category": "x"})).is_err());
    }
}
