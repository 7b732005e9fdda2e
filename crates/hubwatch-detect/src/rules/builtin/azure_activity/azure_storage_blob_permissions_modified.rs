//! Port of Panther's `azure_storage_blob_permissions_modified.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
