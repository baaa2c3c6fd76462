#!/usr/bin/env bash
# Step 2 of a pgdrill action, only in the first pgdrill step of a job: make the venv that setup.sh
# named. When the Actions cache restored it (same path, same Python, same sources: the key says so),
# check that it runs; otherwise build it with pip from the action's own checkout. The marker file is
# written last, holding the version, so a half-built or half-restored venv is never taken for done.
#
#   PGDRILL_ACTION_VENV_DIR     where the venv goes (setup.sh's `venv` output)
#   PGDRILL_ACTION_PYTHON_EXE   the interpreter to build it with (setup.sh's `python` output)
#
# Outputs: version, and installed=true when this step built it (then the next step saves it to
# the Actions cache).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${PGDRILL_ACTION_VENV_DIR:?the setup step names the venv}"
python="${PGDRILL_ACTION_PYTHON_EXE:?the setup step names the Python}"
marker="$venv/.pgdrill-installed"
out="${GITHUB_OUTPUT:-/dev/null}"

if [ -s "$marker" ] && [ -x "$venv/bin/pgdrill" ]; then
    # That the venv's interpreter starts and finds the package is the part a restore can break
    # (another Python at that path); it takes a tenth of what `pgdrill --version` does.
    if "$venv/bin/python" -c 'import pgdrill' 2>/dev/null; then
        version="$(cat "$marker")"
        echo "pgdrill: $version, restored from the Actions cache into $venv"
        { echo "version=$version"; echo "installed=false"; } >> "$out"
        exit 0
    fi
    echo "::warning title=pgdrill::the pgdrill restored from the Actions cache does not run here; installing it again"
fi

echo "pgdrill: installing from $root into $venv"
rm -rf "$venv"
if ! "$python" -m venv "$venv"; then
    echo "::error title=pgdrill::$python cannot create a virtualenv (on Debian/Ubuntu: apt-get install python3-venv), or set the python or venv input"
    exit 3
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$root"
# setuptools (which Python < 3.12 puts in every venv) is not needed to run pgdrill: a fifth fewer
# files to save to and restore from the Actions cache. pip stays: pgdrill uses it to fetch PostgreSQL.
"$venv/bin/python" -m pip uninstall --quiet --yes setuptools >/dev/null 2>&1 || true
# Fewer files again for the Actions cache: botocore's descriptions of services pgdrill never calls,
# and pip as one zip (slim.py says what, and why).
"$venv/bin/python" "$here/slim.py"
version="$("$venv/bin/pgdrill" --version)"
echo "$version"
printf '%s\n' "${version##* }" > "$marker"
{ echo "version=${version##* }"; echo "installed=true"; } >> "$out"
