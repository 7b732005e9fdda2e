//! Port of Panther's `azure_automation_account_created.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
