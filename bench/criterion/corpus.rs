//! A deterministic generator of realistic Azure Activity Log bodies for benchmarks.
//!
//! Bodies hold 1-100 records of about 1 KB, from many resource providers; a chosen fraction
//! are Key Vault key operations (read, restore, recover, in every casing, succeeded or not).
//! Some records spell strings with JSON escapes (`\/`, `\u00XX`) or carry non-ASCII text, so
//! the fast path is measured on everything the JSON standard allows.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write;

const PROVIDERS: &[&str] = &[
    "Microsoft.Compute/virtualMachines",
    "Microsoft.Network/networkSecurityGroups",
    "Microsoft.Storage/storageAccounts",
    "Microsoft.Web/sites",
    "Microsoft.Sql/servers/databases",
    "Microsoft.ContainerService/managedClusters",
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.Insights/diagnosticSettings",
    "Microsoft.KeyVault/vaults/secrets",
    "Microsoft.Resources/deployments",
];
const VERBS: &[&str] = &["write", "delete", "read", "action", "listKeys/action"];
const RESULTS: &[&str] = &["Start", "Accept", "Success", "Succeeded", "Failure"];
const KEY_OPS: &[&str] = &["read", "restore", "recover"];

/// Corpus settings.
pub struct CorpusSpec {
    pub seed: u64,
    pub bodies: usize,
    /// Fraction of records that are Key Vault key operations (0.001 to 0.05).
    pub key_op_fraction: f64,
}

fn casing(rng: &mut StdRng, s: &str) -> String {
    match rng.random_range(0..4) {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        _ => s.to_string(),
    }
}

fn escape_slashes(rng: &mut StdRng, s: String) -> String {
    if rng.random_range(0..20) == 0 {
        s.replace('/', "\\/")
    } else {
        s
    }
}

/// One record as JSON text.
pub fn record(rng: &mut StdRng, key_op_fraction: f64) -> String {
    let sub = format!(
        "{:08x}-1111-2222-3333-{:012x}",
        rng.random::<u32>(),
        rng.random::<u64>() & 0xffff_ffff_ffff
    );
    let rg = format!("rg-{}", rng.random_range(0..500));
    let key_op = rng.random_bool(key_op_fraction);
    let (resource, op, result) = if key_op {
        let vault = format!("kv-{}", rng.random_range(0..50));
        let key = format!("key-{}", rng.random_range(0..200));
        let op = format!(
            "Microsoft.KeyVault/vaults/keys/{}/action",
            KEY_OPS[rng.random_range(0..KEY_OPS.len())]
        );
        (
            format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{vault}/keys/{key}"),
            casing(rng, &op),
            RESULTS[rng.random_range(0..RESULTS.len())],
        )
    } else {
        let p = PROVIDERS[rng.random_range(0..PROVIDERS.len())];
        let name = format!("res{}", rng.random_range(0..100_000));
        let verb = VERBS[rng.random_range(0..VERBS.len())];
        (
            format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{p}/{name}"),
            casing(rng, &format!("{p}/{verb}")),
            RESULTS[rng.random_range(0..RESULTS.len())],
        )
    };
    let minute = rng.random_range(0..60);
    let caller = format!(
        "{}.{}.{}.{}",
        rng.random_range(1..224),
        rng.random::<u8>(),
        rng.random::<u8>(),
        rng.random::<u8>()
    );
    let who = match rng.random_range(0..10) {
        0 => "J\\u00f6rg M\\u00fcller".to_string(),
        1 => "Zo\u{eb} Ng\u{1ec5}".to_string(),
        _ => format!("user{}@contoso.com", rng.random_range(0..10_000)),
    };
    let mut s = String::with_capacity(1100);
    let _ = write!(
        s,
        r#"{{"time":"2025-12-23T10:{minute:02}:{:02}.{:07}Z","resourceId":"{}","operationName":"{}","category":"Administrative","resultType":"{result}","resultSignature":"Succeeded.OK","durationMs":{},"callerIpAddress":"{caller}","correlationId":"{:08x}-aaaa-bbbb-cccc-{:012x}","identity":{{"authorization":{{"scope":"{}","action":"{}","evidence":{{"role":"Contributor","roleAssignmentScope":"/subscriptions/{sub}","principalId":"{:032x}","principalType":"User"}}}},"claims":{{"name":"{who}","appid":"{:08x}-0000-0000-0000-000000000000","ipaddr":"{caller}"}}}},"level":"Information","location":"westeurope","properties":{{"statusCode":"OK","serviceRequestId":"{:016x}","eventCategory":"Administrative","entity":"{}","message":"{}","hierarchy":"tenant/{sub}"}}}}"#,
        rng.random_range(0..60),
        rng.random_range(0..10_000_000),
        escape_slashes(rng, resource.clone()),
        escape_slashes(rng, op.clone()),
        rng.random_range(0..5000),
        rng.random::<u32>(),
        rng.random::<u64>() & 0xffff_ffff_ffff,
        resource,
        op,
        rng.random::<u128>(),
        rng.random::<u32>(),
        rng.random::<u64>(),
        resource,
        op,
    );
    s
}

/// Generates the corpus: one body per line.
pub fn generate(spec: &CorpusSpec) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    (0..spec.bodies)
        .map(|_| {
            let n = rng.random_range(1..=100);
            let records: Vec<String> = (0..n)
                .map(|_| record(&mut rng, spec.key_op_fraction))
                .collect();
            format!("{{\"records\":[{}]}}", records.join(","))
        })
        .collect()
}
