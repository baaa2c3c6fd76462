#!/usr/bin/env bash
# Step 1 of every pgdrill action: register secrets with the runner (::add-mask::) before anything
# else prints, then decide where pgdrill runs from. Values arrive as environment variables only.
#
#   PGDRILL_ACTION_PYTHON    Python to build the venv with (default: python3, then python)
#   PGDRILL_ACTION_VENV      an existing venv that already has pgdrill: used as it is
#   PGDRILL_ACTION_CACHE     true: a venv built by this job is saved with actions/cache for later runs
#   PGDRILL_ACTION_MASK_*    values to mask (database URLs, age identity, token)
#
# Without PGDRILL_ACTION_VENV pgdrill lives in a venv under the runner's tool cache (or RUNNER_TEMP),
# at a path named by the Python and a hash of the action's package sources. The first pgdrill step
# of a job installs it there (install.sh: from the Actions cache when a run saved it, else pip);
# every later step of the job finds it and goes straight on.
#
# Outputs: pgdrill (the executable), venv, python, version (when already installed), install
# (true when install.sh must run) and cache-key (set when the install may come from, and go to,
# the Actions cache).
set -euo pipefail

# This file lives in <action repository>/.github/action/.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${GITHUB_OUTPUT:-/dev/null}"

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

# Mask first: the runner hides these values in every later line of the log. mask.py also prints
# the interpreter's facts (version, and its real path) for the venv's name and the cache key.
facts="$("$python" "$here/mask.py")"
grep '^::add-mask::' <<<"$facts" || true
pyver="$(sed -n 's/^python-version=//p' <<<"$facts")"
pyexe="$(sed -n 's/^python-executable=//p' <<<"$facts")"
if [ -z "$pyver" ] || [ "$(sed -n 's/^python-ok=//p' <<<"$facts")" != "true" ]; then
    echo "::error title=pgdrill::$("$python" --version 2>&1) is too old: pgdrill needs Python 3.10 or newer (set the python input)"
    exit 3
fi

if [ -n "${PGDRILL_ACTION_VENV:-}" ]; then
    venv="$PGDRILL_ACTION_VENV"
    if [ ! -x "$venv/bin/pgdrill" ]; then
        echo "::error title=pgdrill::$venv/bin/pgdrill does not exist (the venv input must name a venv with pgdrill installed)"
        exit 2
    fi
    version="$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("pgdrill"))')"
    echo "pgdrill: $version in the venv $venv"
    { echo "pgdrill=$venv/bin/pgdrill"; echo "venv=$venv"; echo "version=$version"; echo "install=false"; } >> "$out"
    exit 0
fi

# The venv's name changes with the package's sources (so an edited checkout never runs a stale
# install), with the recipe that builds it (install.sh, and slim.py's list of what a venv keeps:
# a restored venv is one built by that list) and with the interpreter (a venv only works with the
# Python that made it).
# (pip's build leaves src/*.egg-info behind in the checkout: not a source, or every later step of
# the job would see new "sources" and install again.)
sources="$(cd "$root" && find pyproject.toml src .github/action/install.sh .github/action/slim.py \( -name '*.egg-info' -o -name __pycache__ -o -name build \) -prune \
    -o -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
interpreter="$(printf '%s\n' "$pyexe" "$pyver" | sha256sum | cut -c1-8)"
base=""
for dir in "${RUNNER_TOOL_CACHE:-}" "${RUNNER_TEMP:-}" "${TMPDIR:-/tmp}"; do
    if [ -n "$dir" ] && mkdir -p "$dir/pgdrill" 2>/dev/null && [ -w "$dir/pgdrill" ]; then
        base="$dir/pgdrill"; break
    fi
done
venv="$base/venv-py$pyver-$interpreter-$sources"
{ echo "pgdrill=$venv/bin/pgdrill"; echo "venv=$venv"; echo "python=$pyexe"; } >> "$out"

marker="$venv/.pgdrill-installed"
if [ -s "$marker" ] && [ -x "$venv/bin/pgdrill" ]; then
    version="$(cat "$marker")"
    echo "pgdrill: $version, installed earlier in $venv"
    { echo "version=$version"; echo "install=false"; } >> "$out"
    exit 0
fi

echo "install=true" >> "$out"
case "${PGDRILL_ACTION_CACHE:-true}" in
    true|True|TRUE|yes|1|on)
        pkg_version="$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$root/pyproject.toml" | head -n 1)"
        echo "cache-key=pgdrill-${pkg_version:-0}-${RUNNER_OS:-os}-${RUNNER_ARCH:-arch}-py$pyver-$interpreter-$sources-$(printf '%s' "$venv" | sha256sum | cut -c1-8)" >> "$out"
        ;;
esac
