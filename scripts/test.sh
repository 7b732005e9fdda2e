#!/usr/bin/env bash
# The test command (README quick start): installs what the tests need, then runs them all.
# - Node: Azurite, the Azure Storage emulator, for the blob checkpoint store tests.
# - Python: the azure-eventhub SDK, an independent client for the local Event Hubs server, and
#   panther-analysis-tool, whose panther_core the live engine differential test runs
#   (crates/hubwatch-detect/tests/engine_differential.rs; under CI=true it fails without it).
# Tests start and stop their own servers (local Event Hubs server, Azurite, HTTP receivers)
# on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f package-lock.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi
if [ -f tests/python/requirements.txt ]; then
  if ! python3 -c "import azure.eventhub, panther_core" 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  fi
fi

# One Azurite for the whole run, on a free loopback port; tests that find AZURITE_BLOB_URL use
# it (they start their own otherwise), and it is stopped when the tests end.
if [ -z "${AZURITE_BLOB_URL:-}" ] && [ -x node_modules/.bin/azurite-blob ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  azurite_dir=$(mktemp -d)
  (cd "$azurite_dir" && exec "$OLDPWD/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
      --inMemoryPersistence --skipApiVersionCheck --loose --silent) >"$azurite_dir/azurite.log" 2>&1 &
  azurite_pid=$!
  trap 'kill "$azurite_pid" 2>/dev/null; wait "$azurite_pid" 2>/dev/null; rm -rf "$azurite_dir"' EXIT
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.2
  done
  export AZURITE_BLOB_URL="http://127.0.0.1:$port/devstoreaccount1"
  echo "Azurite on $AZURITE_BLOB_URL"
fi

# One redis-server for the whole run (the context store's Redis tests), on a free loopback
# port, stopped when the tests end; tests that restart Redis start their own.
if [ -z "${REDIS_URL:-}" ] && command -v redis-server >/dev/null 2>&1; then
  redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis_dir=$(mktemp -d)
  redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$redis_dir" \
      >"$redis_dir/redis.log" 2>&1 &
  redis_pid=$!
  # One EXIT trap for both servers.
  trap 'kill "${azurite_pid:-}" "$redis_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "${azurite_dir:-}" "$redis_dir"' EXIT
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  export REDIS_URL="redis://127.0.0.1:$redis_port"
  echo "redis-server on $REDIS_URL"
elif ! command -v redis-server >/dev/null 2>&1; then
  echo "NOTE: redis-server is not installed; the Redis context store tests fail under CI=true and skip otherwise"
fi

# The full-disk checkpoint test mounts a small tmpfs in a private user namespace; say so
# visibly where that is not allowed (the test then skips itself).
if ! unshare -rm true 2>/dev/null; then
  echo "NOTE: user namespaces are unavailable here (unshare -rm); faults.rs checkpoint_disk_full_holds_the_position_and_recovers will skip"
fi

cargo test --locked --workspace "$@"
