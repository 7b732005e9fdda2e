//! Built-in Rust rules, bound to rule files by their Panther `Filename`.
//!
//! Panther's Python rules cannot run here; each built-in reproduces one upstream rule exactly.

pub mod keyvault_key_accessed;

use super::Logic;
use std::sync::Arc;

/// The built-in logic for a Panther `Filename`, if hubwatch has one.
pub fn lookup(filename: &str) -> Option<Arc<dyn Logic>> {
    match filename {
        keyvault_key_accessed::FILENAME => {
            Some(Arc::new(keyvault_key_accessed::KeyVaultKeyAccessed))
        }
        _ => None,
    }
}

/// The `Filename`s that have built-in logic.
pub fn names() -> Vec<&'static str> {
    vec![keyvault_key_accessed::FILENAME]
}
