//! Port of Panther's `azure_vm_command_executed.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
