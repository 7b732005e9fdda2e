//! Port of Panther's `azure_advisor_security_recommendation.py` (not ported yet).

use crate::rules::builtin::Port;

pub(super) const PORT: Option<Port> = None;
