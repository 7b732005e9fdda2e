//! Port of Panther's `azure_vm_disk_sas_uri_generated.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
