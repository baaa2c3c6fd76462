#!/usr/bin/env bash
# PostgreSQL server binaries for the throwaway test clusters, and an unprivileged user to run
# them as when the tests run as root (initdb refuses root).
set -euo pipefail
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null
    else
        echo "PostgreSQL server binaries (initdb) are missing: install the postgresql package" >&2
        exit 1
    fi
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --create-home postgres
fi
# The compressors cron scripts pipe pg_dump into: the archive-set tests make their dumps with them.
missing=""
for tool in gzip bzip2 zstd lz4; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ] && [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gzip bzip2 zstd lz4 >/dev/null
fi
