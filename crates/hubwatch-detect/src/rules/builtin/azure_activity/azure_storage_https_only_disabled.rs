//! Port of Panther's `azure_storage_https_only_disabled.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
