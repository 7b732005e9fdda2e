//! Port of Panther's `azure_action_groups_deleted.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
