//! Port of Panther's `azure_diagnostic_settings_deleted.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
