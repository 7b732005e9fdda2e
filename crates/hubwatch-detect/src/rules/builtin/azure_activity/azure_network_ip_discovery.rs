//! Port of Panther's `azure_network_ip_discovery.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
