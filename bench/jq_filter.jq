# The Key Vault key access rule as a jq filter (baseline for `hubwatch replay`).
#
#   jq -cR -f bench/jq_filter.jq CORPUS.jsonl > alerts.jsonl
#
# Each input line (-R: raw, so a malformed line is skipped instead of ending jq) is one body: {"records": [...]}, an array of records, or a bare record. Records ->
# select on ascii_upcase(operationName) and exact resultType -> a small alert object.
# Differences from Panther (none occur in the generated corpus): ascii_upcase is ASCII-only (no
# long s -> S), a non-string operationName is skipped rather than a rule error, and the
# case-insensitive fallback lookup takes the last key equal ignoring ASCII case.

def ci(k):
  if has(k) then .[k]
  else (k | ascii_downcase) as $l
    | [to_entries[] | select(.key | ascii_downcase == $l) | .value] as $m
    | if ($m | length) > 0 then $m[-1] else null end
  end;
def has_ci(k): has(k) or ((k | ascii_downcase) as $l | any(keys[]; ascii_downcase == $l));
def action:
  {"MICROSOFT.KEYVAULT/VAULTS/KEYS/READ/ACTION": "read",
   "MICROSOFT.KEYVAULT/VAULTS/KEYS/RESTORE/ACTION": "restored",
   "MICROSOFT.KEYVAULT/VAULTS/KEYS/RECOVER/ACTION": "recovered"}[.];
def segment_after(m):
  if type == "string" then
    split("/") as $p
    | ([range(0; ($p | length) - 1) | select($p[.] | ascii_downcase == m)] | first) as $i
    | if $i == null then "" else $p[$i + 1] end
  else "" end;

fromjson?
| (if type == "object" then (if has("records") then .records else [.] end)
 elif type == "array" then .
 else empty end)
| .[]?
| select(type == "object")
| (ci("operationName") | if type == "string" then ascii_upcase | action else null end) as $action
| select($action != null)
| ci("resultType") as $rt
| select($rt == "Success" or $rt == "Succeeded")
| (if has_ci("callerIpAddress") then ci("callerIpAddress") | tostring else "<UNKNOWN_CALLER>" end) as $caller
| {
    rule_id: "Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered",
    title: "Azure Key Vault key \($action) from [\(ci("resourceId") | segment_after("vaults"))] by [\($caller)]",
    resourceId: ci("resourceId"),
    callerIpAddress: ci("callerIpAddress"),
    correlationId: ci("correlationId"),
    operationName: ci("operationName"),
    resultType: $rt
  }
