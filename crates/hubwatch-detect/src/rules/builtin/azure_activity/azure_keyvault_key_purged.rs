//! Port of Panther's `azure_keyvault_key_purged.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
