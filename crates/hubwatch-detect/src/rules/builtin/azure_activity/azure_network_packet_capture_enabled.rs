//! Port of Panther's `azure_network_packet_capture_enabled.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
