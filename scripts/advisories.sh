#!/usr/bin/env bash
# RustSec advisory audit of Cargo.lock, offline, against the pinned snapshot of the advisory
# database in supply-chain/ (see supply-chain/advisory-db.txt for its commit and date).
#
# cargo-deny reads its database as a git repository (it asks git for HEAD's date), so the
# snapshot is unpacked into a one-commit repository dated like the upstream commit. The
# directory name is where cargo-deny 0.20 looks for the default database URL under db-path.
#
# To refresh: `git archive --prefix=advisory-db/ HEAD | gzip -9n > supply-chain/advisory-db.tar.gz`
# in a checkout of github.com/rustsec/advisory-db, then update supply-chain/advisory-db.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

snapshot=supply-chain/advisory-db.tar.gz
commit_date=$(sed -n 's/^commit date: //p' supply-chain/advisory-db.txt)
root="${CARGO_TARGET_DIR:-$PWD/target}/advisory-db"
db="$root/advisory-db-3157b0e258782691"

rm -rf "$root"
mkdir -p "$root"
tar -xzf "$snapshot" -C "$root"
mv "$root/advisory-db" "$db"
(
  cd "$db"
  git init -q
  git add -A
  GIT_AUTHOR_DATE="$commit_date" GIT_COMMITTER_DATE="$commit_date" \
    git -c user.name=snapshot -c user.email=snapshot@localhost commit -qm "advisory-db snapshot"
)

# deny.toml plus the snapshot's location; every other advisory setting comes from deny.toml.
config="$root/deny.toml"
awk -v path="$root" '{ print } /^\[advisories\]$/ { print "db-path = \"" path "\"" }' deny.toml >"$config"
grep -q '^db-path' "$config" || { echo "deny.toml has no [advisories] table" >&2; exit 1; }

cargo deny --offline --color never --config "$config" check --hide-inclusion-graph --show-stats advisories
