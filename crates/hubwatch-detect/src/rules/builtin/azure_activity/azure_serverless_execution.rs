//! Port of Panther's `azure_serverless_execution.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
