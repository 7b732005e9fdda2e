//! Port of Panther's `azure_recovery_services_container_deleted.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
