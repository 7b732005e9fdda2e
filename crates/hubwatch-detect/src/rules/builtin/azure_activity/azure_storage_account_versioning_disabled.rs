//! Port of Panther's `azure_storage_account_versioning_disabled.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
