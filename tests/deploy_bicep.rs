//! The Bicep files under deploy/ (read as text; no Bicep compiler here): role assignments at the
//! scopes the README states, the optional sinks' assignments behind their parameters, no
//! hard-coded host name of one Azure cloud, and a rendered configuration that hubwatch accepts.

use std::collections::BTreeMap;
use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const FILES: &[&str] = &[
    "deploy/containerapps/main.bicep",
    "deploy/sentinel/main.bicep",
];
/// What the binary serves (src/http.rs).
const PROBE_PATHS: &[&str] = &["/healthz", "/readyz"];

/// A top-level `resource` or `module` declaration.
#[derive(Debug)]
struct Decl {
    symbol: String,
    /// `Microsoft.X/y` without the API version (the path for a module).
    ty: String,
    condition: Option<String>,
    body: String,
}

fn declarations(text: &str) -> Vec<Decl> {
    let mut out: Vec<Decl> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        if let Some(rest) = line
            .strip_prefix("resource ")
            .or_else(|| line.strip_prefix("module "))
        {
            let (symbol, rest) = rest.split_once(' ').expect("symbol");
            let ty = rest.split('\'').nth(1).expect("quoted type");
            let condition = rest
                .split_once("= if (")
                .map(|(_, c)| c.rsplit_once(") {").expect("if (..) {").0.to_string());
            out.push(Decl {
                symbol: symbol.into(),
                ty: ty.split('@').next().unwrap().into(),
                condition,
                body: String::new(),
            });
            open = !line.trim_end().ends_with('}');
        } else if open {
            if line == "}" {
                open = false;
            } else {
                out.last_mut().unwrap().body.push_str(line);
                out.last_mut().unwrap().body.push('\n');
            }
        }
    }
    out
}

/// `var name = 'value'` string variables.
fn string_vars(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("var "))
        .filter_map(|l| l.split_once(" = '"))
        .map(|(n, v)| (n.to_string(), v.trim_end_matches('\'').to_string()))
        .collect()
}

/// Code without `//` comments (not the `//` of a URL) and `@description(...)` text.
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split(" // ").next().unwrap_or_default())
        .filter(|l| !l.trim_start().starts_with("@description("))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_host_name_of_one_cloud_is_written_in_the_bicep() {
    for file in FILES {
        let code = code(&read(file));
        for host in [
            "servicebus.windows.net",
            "core.windows.net",
            "monitor.azure.com",
            "azure.us",
            "chinacloudapi.cn",
            "login.microsoftonline",
        ] {
            assert!(
                !code.contains(host),
                "{file} writes {host}: derive it from the resource or environment()"
            );
        }
    }
    let apps = read("deploy/containerapps/main.bicep");
    assert!(apps.contains("eventHubNamespace.properties.serviceBusEndpoint"));
    assert!(apps.contains("environment().suffixes.storage"));
}

#[test]
fn roles_are_assigned_at_the_readmes_scopes_and_optional_ones_behind_parameters() {
    // Built-in role ids, as Microsoft's "Azure built-in roles" pages list them
    // (MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/*.md).
    let roles: BTreeMap<&str, &str> = [
        (
            "a638d3c7-ab3a-418d-83e6-5f17a39d4fde",
            "Azure Event Hubs Data Receiver",
        ),
        (
            "2b629674-e913-4c01-ae53-ef4638d8f975",
            "Azure Event Hubs Data Sender",
        ),
        (
            "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
            "Storage Blob Data Contributor",
        ),
        (
            "3913510d-42f4-4e42-8a64-420c390055eb",
            "Monitoring Metrics Publisher",
        ),
    ]
    .into();
    // (role, scope resource type, the condition it hangs on).
    let expected: Vec<(&str, &str, Option<&str>)> = vec![
        (
            "Azure Event Hubs Data Receiver",
            "Microsoft.EventHub/namespaces/eventhubs",
            None,
        ),
        (
            "Storage Blob Data Contributor",
            "Microsoft.Storage/storageAccounts/blobServices/containers",
            None,
        ),
        (
            "Azure Event Hubs Data Sender",
            "Microsoft.EventHub/namespaces/eventhubs",
            Some("useAlertsHub"),
        ),
        (
            "Monitoring Metrics Publisher",
            "Microsoft.Insights/dataCollectionRules",
            Some("!empty(principalId)"),
        ),
    ];
    let mut found = Vec::new();
    for file in FILES {
        let text = read(file);
        let decls = declarations(&text);
        let vars = string_vars(&text);
        for d in decls
            .iter()
            .filter(|d| d.ty == "Microsoft.Authorization/roleAssignments")
        {
            let role_var = d
                .body
                .split("'Microsoft.Authorization/roleDefinitions', ")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .unwrap_or_else(|| panic!("{file} {}: no roleDefinitionId", d.symbol));
            let id = vars
                .get(role_var)
                .unwrap_or_else(|| panic!("var {role_var}"));
            let role = roles
                .get(id.as_str())
                .unwrap_or_else(|| panic!("{file}: unknown role {id}"));
            let scope = d
                .body
                .lines()
                .find_map(|l| l.trim().strip_prefix("scope: "))
                .unwrap_or_else(|| panic!("{file} {}: no scope", d.symbol));
            let target = decls
                .iter()
                .find(|t| t.symbol == scope)
                .unwrap_or_else(|| panic!("{file}: scope {scope} is not a resource here"));
            // The assignment's name is unique per scope, principal and role.
            assert!(
                d.body.contains(&format!("name: guid({scope}.id, ")),
                "{file} {}",
                d.symbol
            );
            found.push((*role, target.ty.clone(), d.condition.clone()));
        }
    }
    let expected: Vec<(&str, String, Option<String>)> = expected
        .into_iter()
        .map(|(r, t, c)| (r, t.to_string(), c.map(str::to_string)))
        .collect();
    assert_eq!(found, expected);

    // The optional sinks: off unless their parameter is set.
    let apps = read("deploy/containerapps/main.bicep");
    for (param, flag) in [
        ("alertsEventHubName", "useAlertsHub"),
        ("sentinelWorkspaceId", "useSentinel"),
        ("webhookUrl", "useWebhook"),
    ] {
        assert!(
            apps.contains(&format!("param {param} string = ''")),
            "{param} defaults to empty"
        );
        assert!(
            apps.contains(&format!("var {flag} = !empty({param})")),
            "{flag}"
        );
        assert!(
            apps.contains(&format!("  {flag} ? [")),
            "{flag} guards its sink's configuration"
        );
    }
    let module = declarations(&apps)
        .into_iter()
        .find(|d| d.ty == "../sentinel/main.bicep")
        .expect("the Sentinel module");
    assert_eq!(module.condition.as_deref(), Some("useSentinel"));
    assert!(module
        .body
        .contains("principalId: identity.properties.principalId"));
}

/// The configuration lines the Container Apps Bicep renders, every optional sink on.
fn rendered_config(bicep: &str) -> String {
    let start = bicep
        .find("var configToml = join(flatten([")
        .expect("configToml");
    let end = start
        + bicep[start..]
            .find("]), '\\n')")
            .expect("end of configToml");
    let vars: BTreeMap<&str, &str> = [
        ("port", "9464"),
        ("serviceBusHost", "contoso-security.servicebus.windows.net"),
        ("alertsHost", "contoso-soc.servicebus.windows.net"),
        ("eventHubName", "azure-logs"),
        ("consumerGroup", "hubwatch"),
        (
            "containerUrl",
            "https://contosohubwatch.blob.core.windows.net/hubwatch-checkpoints",
        ),
        (
            "identity.properties.clientId",
            "11111111-2222-3333-4444-555555555555",
        ),
        ("webhookUrl", "https://soc.contoso.example/hooks/hubwatch"),
        ("alertsEventHubName", "hubwatch-alerts"),
        (
            "sentinel.outputs.endpoint",
            "https://hubwatch-dce-abcd.westeurope-1.ingest.monitor.azure.com",
        ),
        (
            "sentinel.outputs.dcrImmutableId",
            "dcr-00000000000000000000000000000000",
        ),
        ("sentinel.outputs.streamName", "Custom-HubwatchAlerts"),
    ]
    .into();
    let client_id_line = string_vars(bicep)["clientIdLine"].clone();
    let mut out = String::new();
    for line in bicep[start..end].lines().skip(1).map(str::trim) {
        let literal = match line {
            l if l.ends_with('[') || l.starts_with(']') || l.is_empty() => continue,
            "clientIdLine" => client_id_line.as_str(),
            l if l.starts_with('\'') => l.trim_matches('\''),
            // `cond ? 'a' : 'b'` (the managed-identity branch) and `cond ? clientIdLine`.
            l if l.contains(" ? ") => {
                let branch = l.rsplit(" : ").next().unwrap();
                if branch == "clientIdLine" {
                    client_id_line.as_str()
                } else {
                    branch.trim_matches('\'')
                }
            }
            other => panic!("unexpected line in configToml: {other}"),
        };
        let mut text = literal.to_string();
        while let Some(i) = text.find("${") {
            let j = i + text[i..].find('}').unwrap();
            let value = vars
                .get(&text[i + 2..j])
                .unwrap_or_else(|| panic!("no test value for ${{{}}}", &text[i + 2..j]));
            text.replace_range(i..=j, value);
        }
        out.push_str(&text);
        out.push('\n');
    }
    out
}

#[test]
fn the_rendered_configuration_is_valid_with_every_sink() {
    let text = rendered_config(&read("deploy/containerapps/main.bicep"));
    let config =
        hubwatch::config::Config::from_toml(Path::new("main.bicep"), &text, std::iter::empty())
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let kinds: Vec<String> = config
        .sinks
        .iter()
        .map(|s| format!("{:?}", s.kind()).to_lowercase())
        .collect();
    assert_eq!(
        kinds,
        ["file", "webhook", "eventhubs", "sentinel"],
        "{text}"
    );
    for sink in &config.sinks {
        sink.validate().unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    }
    let keda = hubwatch::checkpoint::keda::from_config(&config)
        .unwrap()
        .unwrap();
    assert_eq!(keda.event_hub_namespace, "contoso-security");
}

#[test]
fn bicep_has_identity_probes_port_and_scale_rule() {
    let bicep = read("deploy/containerapps/main.bicep");
    for needle in [
        "Microsoft.App/containerApps@",
        "Microsoft.ManagedIdentity/userAssignedIdentities@",
        "type: 'UserAssigned'",
        "type: 'Liveness'",
        "type: 'Readiness'",
        "path: '/healthz'",
        "path: '/readyz'",
        "var port = 9464",
        "targetPort: port",
        "port: port",
        "'HUBWATCH_HTTP__LISTEN'",
        "'HUBWATCH_SERVICE__STATE_DIR'",
        "mountPath: '/var/lib/hubwatch'",
        "'/etc/hubwatch/config.toml'",
        "secretRef:",
        "@secure()",
        "type: 'azure-eventhub'",
        "identity: identity.id",
        "consumerGroup: toLower(consumerGroup)",
        "checkpointStrategy: 'blobMetadata'",
        "maxReplicas: partitionCount",
    ] {
        assert!(bicep.contains(needle), "main.bicep lacks {needle:?}");
    }
    // Only the paths the binary serves.
    for line in bicep.lines().filter(|l| l.trim().starts_with("path: '/")) {
        let path = line
            .trim()
            .trim_start_matches("path: '")
            .trim_end_matches('\'');
        assert!(PROBE_PATHS.contains(&path), "probe path {path}");
    }
    // The same image as the Kubernetes Deployment.
    let image = read("deploy/kubernetes/deployment.yaml")
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: ").map(str::to_string))
        .expect("the Deployment's image");
    assert!(bicep.contains(&format!("param image string = '{image}'")));
}
