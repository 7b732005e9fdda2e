//! hubwatch's own rules over Key Vault's `AuditEvent` resource logs: the data plane.
//!
//! Data-plane permissions (`keys/read/action`, `secrets/getSecret/action`, ...) almost never
//! reach the Activity Log; Key Vault reports each request in its resource log instead, with
//! `resultType` `Success` even when it answered 403 or 404. These rules read the outcome from
//! the HTTP status ([`audit::status`]) and name the vault, the object and the caller's identity.
//! They are not ports of Panther rules, but twins of Panther's Activity Log Key Vault rules;
//! each is bound to its rule file by a `Filename` of its own, `keyvault_dataplane/...`.

mod access;
pub mod audit;
mod denied;

#[cfg(test)]
mod rule_tests;
#[cfg(test)]
mod tests;

use super::Port;

pub use access::DataPlaneAccess;
pub use denied::DataPlaneDenied;

const PORTS: &[Port] = &[
    access::KEY,
    access::SECRET,
    access::CERTIFICATE,
    denied::PORT,
];

/// The data-plane rules.
pub fn ports() -> impl Iterator<Item = &'static Port> {
    PORTS.iter()
}
