//! Arbitrary text as a configuration file: parsing and validation never panic.
#![no_main]

use hubwatch::config::Config;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = vec![
        ("HUBWATCH_SINKS__0__BATCH_SIZE".to_string(), "7".to_string()),
        ("HUBWATCH_SOURCE__PREFETCH".to_string(), "x".to_string()),
    ];
    let _ = Config::from_toml(Path::new("fuzz.toml"), text, Vec::new());
    let _ = Config::from_toml(Path::new("fuzz.toml"), text, env);
});
