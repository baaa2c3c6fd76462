#!/usr/bin/env bash
# Knex (with the pg driver) from npm for the migration-head tests against the real tool
# (tests/integration/test_migration_tools.py); alembic and Django come from the `test` extra.
# Idempotent and quick when already installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

NPM_TOOLS="$PWD/.cache/npm-tools"
if [ ! -e "$NPM_TOOLS/node_modules/knex/package.json" ] || [ ! -e "$NPM_TOOLS/node_modules/pg/package.json" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
        else
            echo "60-migration-tools: npm is missing (install nodejs and npm)" >&2
            exit 1
        fi
    fi
    echo "60-migration-tools: installing knex and pg (npm) into $NPM_TOOLS"
    mkdir -p "$NPM_TOOLS"
    npm install --silent --no-audit --no-fund --prefix "$NPM_TOOLS" knex@3 pg@8 >/dev/null
fi
"$NPM_TOOLS/node_modules/.bin/knex" --version >/dev/null
