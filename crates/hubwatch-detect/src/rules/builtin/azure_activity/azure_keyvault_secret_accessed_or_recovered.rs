//! Port of Panther's `azure_keyvault_secret_accessed_or_recovered.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
