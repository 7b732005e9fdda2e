//! Port of Panther's `azure_role_assignment_privileged_or_elevated.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
