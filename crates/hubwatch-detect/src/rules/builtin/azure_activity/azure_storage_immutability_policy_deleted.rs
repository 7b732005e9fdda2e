//! Port of Panther's `azure_storage_immutability_policy_deleted.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
