#!/usr/bin/env bash
# Physical backup tools for the point-in-time drill tests: pgBackRest from Debian's package and
# barman-cloud (the `barman[cloud]` test extra, in the venv). The throwaway clusters run as the
# postgres user when the tests run as root, and they run these tools themselves (archive_command,
# restore_command): that user must be able to execute the venv's interpreter, so it is given
# traverse-only access (an ACL) to the folders above it. Idempotent and quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${PGDRILL_VENV:-$PWD/.venv}"

if ! command -v pgbackrest >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "20-pitr-tools: pgbackrest is missing: install the pgbackrest package" >&2
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbackrest acl >/dev/null
fi
pgbackrest version >/dev/null

for tool in barman-cloud-backup barman-cloud-wal-archive barman-cloud-restore barman-cloud-wal-restore \
            barman-cloud-backup-list; do
    if ! "$VENV/bin/$tool" --version >/dev/null 2>&1; then
        echo "20-pitr-tools: $VENV/bin/$tool does not run (is pgdrill installed with its test extra?)" >&2
        exit 1
    fi
done

if [ "$(id -u)" -eq 0 ]; then
    user="${PGDRILL_CLUSTER_USER:-postgres}"
    id "$user" >/dev/null 2>&1 || useradd --system --create-home "$user"
    if ! runuser -u "$user" -- "$VENV/bin/barman-cloud-wal-restore" --version >/dev/null 2>&1; then
        command -v setfacl >/dev/null 2>&1 || {
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq acl >/dev/null; }
        interpreter="$(readlink -f "$VENV/bin/python")"
        for path in "$VENV" "$interpreter"; do
            dir="$(dirname "$path")"
            while [ "$dir" != "/" ]; do
                if ! runuser -u "$user" -- test -x "$dir"; then
                    setfacl -m "u:$user:x" "$dir"
                fi
                dir="$(dirname "$dir")"
            done
        done
        runuser -u "$user" -- "$VENV/bin/barman-cloud-wal-restore" --version >/dev/null
    fi
fi
