//! Port of Panther's `azure_storage_sas_external_access.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
