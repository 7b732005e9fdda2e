//! Port of Panther's `azure_storage_fileshare_modified.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
