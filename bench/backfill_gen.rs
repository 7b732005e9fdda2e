//! Writes a generated diagnostic-settings archive to a storage account (Azurite) for
//! `bench/backfill.sh`: `HOURS` hourly `PT1H.json` append blobs for each of `VAULTS` Key Vaults,
//! in the layout Azure Monitor uses, each of `LINES` AuditEvent records (about 1 KB; 1% of them
//! `SecretGet` by a distinct caller, which raise alerts) in `APPENDS` appends.
//!
//!   bench-backfill-gen ACCOUNT_URL CONTAINER HOURS VAULTS LINES APPENDS
//!
//! Shared Key with Azurite's public development key. Built only with `--features bench-load`.

use hubwatch::azure::blob::{BlobAuth, BlobClientOptions, BlobContainer};
use serde_json::json;

const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const SUB: &str = "8F2B6B8E-1111-4C3A-9D7E-2A1B3C4D5E6F";

fn record(vault: &str, hour: u32, i: usize) -> String {
    let op = if i % 100 == 0 {
        "SecretGet"
    } else {
        "VaultGet"
    };
    json!({"time": format!("2026-11-02T{hour:02}:{:02}:{:02}.1234567Z", (i / 60) % 60, i % 60),
        "resourceId": format!("/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/SECURITY-RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{vault}"),
        "operationName": op, "operationVersion": "7.4", "category": "AuditEvent",
        "resultType": "Success", "resultSignature": "OK", "resultDescription": "",
        "durationMs": "12", "callerIpAddress": format!("10.{}.{}.{}", hour, (i / 256) % 256, i % 256),
        "correlationId": format!("{:08x}-0000-4000-8000-{:012x}", hour, i),
        "identity": {"claim": {"http://schemas.microsoft.com/identity/claims/objectidentifier": "30a6c29d-de7c-4830-815f-9b3bb366e975",
            "appid": "4f3e2d1c-aaaa-bbbb-cccc-1234567890ab", "upn": format!("user{}@contoso.com", if op == "SecretGet" { i } else { i % 7 })}},
        "properties": {"id": format!("https://{vault}.vault.azure.net/secrets/s{}", i % 50), "clientInfo": "azsdk-net-Security.KeyVault.Secrets/4.5.0 (.NET 8.0.4; Linux)",
            "httpStatusCode": 200, "requestUri": format!("https://{vault}.vault.azure.net/secrets/s{}?api-version=7.4", i % 50),
            "isAccessPolicyMatch": true, "tlsVersion": "TLS1.2"},
        "location": "westeurope"})
    .to_string()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!("usage: bench-backfill-gen ACCOUNT_URL CONTAINER HOURS VAULTS LINES APPENDS");
        std::process::exit(2);
    }
    let (hours, vaults, lines, appends): (u32, usize, usize, usize) = (
        args[3].parse()?,
        args[4].parse()?,
        args[5].parse()?,
        args[6].parse()?,
    );
    let c = BlobContainer::new(
        &format!("{}/{}", args[1].trim_end_matches('/'), args[2]),
        BlobAuth::shared_key(ACCOUNT, KEY),
        BlobClientOptions::default(),
    )?;
    c.create_if_missing().await?;
    let mut bytes = 0usize;
    for h in 0..hours {
        for v in 0..vaults {
            let vault = format!("KV{v}");
            let name = format!(
                "resourceId=/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/SECURITY-RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{vault}/y=2026/m=11/d=02/h={h:02}/m=00/PT1H.json"
            );
            c.create_append_blob(&name).await?;
            let all: Vec<String> = (0..lines).map(|i| record(&vault, h, i)).collect();
            for chunk in all.chunks(lines.div_ceil(appends.max(1)).max(1)) {
                let text = chunk.join("\n") + "\n";
                bytes += text.len();
                c.append_block(&name, text.into()).await?;
            }
        }
    }
    println!("{bytes}");
    Ok(())
}
