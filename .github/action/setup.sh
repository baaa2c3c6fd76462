#!/usr/bin/env bash
# Step 1 of every pgdrill action: register secrets with the runner (::add-mask::) before anything
# else prints, then make `pgdrill` runnable. Values arrive as environment variables only.
#
#   PGDRILL_ACTION_PYTHON    Python to build the venv with (default: python3, then python)
#   PGDRILL_ACTION_VENV      an existing venv that already has pgdrill: used as it is
#   PGDRILL_ACTION_MASK_*    values to mask (database URLs, age identity, token)
#
# Without PGDRILL_ACTION_VENV the package is installed from the action's own checkout into a venv
# keyed by the hash of its sources, under the runner's tool cache (kept between jobs on self-hosted
# runners) or RUNNER_TEMP, and reused when it is already there. pip's own cache stays on.
# Writes the step outputs `pgdrill` (the executable) and `version`.
set -euo pipefail

# This file lives in <action repository>/.github/action/.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

python="${PGDRILL_ACTION_PYTHON:-}"
if [ -z "$python" ]; then
    for candidate in python3 python; do
        if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
    done
fi
if [ -z "$python" ] || ! command -v "$python" >/dev/null 2>&1; then
    echo "::error title=pgdrill::no Python found on this runner (looked for ${python:-python3, python}); install Python 3.10+ or set the python input"
    exit 3
fi

# Mask first: the runner hides these values in every later line of the log.
"$python" "$root/.github/action/mask.py"

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "::error title=pgdrill::$("$python" --version 2>&1) is too old: pgdrill needs Python 3.10 or newer (set the python input)"
    exit 3
fi

if [ -n "${PGDRILL_ACTION_VENV:-}" ]; then
    venv="$PGDRILL_ACTION_VENV"
    if [ ! -x "$venv/bin/pgdrill" ]; then
        echo "::error title=pgdrill::$venv/bin/pgdrill does not exist (the venv input must name a venv with pgdrill installed)"
        exit 2
    fi
else
    key="$(cd "$root" && find pyproject.toml src -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
    pyver="$("$python" -c 'import sys; print("py%d.%d" % sys.version_info[:2])')"
    base=""
    for dir in "${RUNNER_TOOL_CACHE:-}" "${RUNNER_TEMP:-}" "${TMPDIR:-/tmp}"; do
        if [ -n "$dir" ] && mkdir -p "$dir/pgdrill" 2>/dev/null && [ -w "$dir/pgdrill" ]; then
            base="$dir/pgdrill"; break
        fi
    done
    venv="$base/venv-$pyver-$key"
    if [ -f "$venv/.pgdrill-installed" ] && [ -x "$venv/bin/pgdrill" ]; then
        echo "pgdrill: reusing $venv"
    else
        echo "pgdrill: installing from $root into $venv"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$root"
        touch "$venv/.pgdrill-installed"
    fi
fi

version="$("$venv/bin/pgdrill" --version)"
echo "$version"
{
    echo "pgdrill=$venv/bin/pgdrill"
    echo "version=${version##* }"
} >> "$GITHUB_OUTPUT"
