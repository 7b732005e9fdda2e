//! Port of Panther's `azure_network_port_mapping.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
