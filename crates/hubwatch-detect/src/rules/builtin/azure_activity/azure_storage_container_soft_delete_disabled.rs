//! Port of Panther's `azure_storage_container_soft_delete_disabled.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
