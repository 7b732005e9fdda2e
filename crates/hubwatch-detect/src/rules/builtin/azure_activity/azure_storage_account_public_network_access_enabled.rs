//! Port of Panther's `azure_storage_account_public_network_access_enabled.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
