#!/usr/bin/env bash
# The test command (README quick start): installs what the tests need, then runs them all.
# - Node: Azurite, the Azure Storage emulator, for the blob checkpoint store tests.
# - Python: the azure-eventhub SDK, an independent client for the local Event Hubs server.
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
  if ! python3 -c "import azure.eventhub" 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  fi
fi

cargo test --locked "$@"
