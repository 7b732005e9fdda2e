//! Port of Panther's `azure_storage_blob_cpk_encryption_detected.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
