//! Port of Panther's `azure_log_analytics_workspace_deleted.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
