//! Port of Panther's `azure_nsg_deleted_or_modified.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
