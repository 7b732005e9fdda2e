//! Port of Panther's `azure_storage_blob_uploaded.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
