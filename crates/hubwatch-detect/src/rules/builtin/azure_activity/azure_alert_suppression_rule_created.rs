//! Port of Panther's `azure_alert_suppression_rule_created.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
