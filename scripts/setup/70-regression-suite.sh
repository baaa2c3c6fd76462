#!/usr/bin/env bash
# PostgreSQL's own regression suite, for the fidelity test on a large schema nobody here wrote
# (tests/integration/test_fidelity_regression.py): the src/test/regress folder of the Debian source
# package of the installed server (apt-get source, with a private sources list, so the machine's apt
# configuration stays as it is), pg_regress from postgresql-server-dev, and regress.so built against
# it. Lands in $PGDRILL_CACHE_DIR/regress-<major> (default /var/cache/pgdrill); quick when present.
set -euo pipefail

CACHE="${PGDRILL_CACHE_DIR:-/var/cache/pgdrill}"
initdb="$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -1 || true)"
if [ -z "$initdb" ]; then
    echo "70-regression-suite: no PostgreSQL server installed (run 00-system.sh first)" >&2
    exit 1
fi
bindir="$(dirname "$(readlink -f "$initdb")")"
major="$("$bindir/initdb" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/')"
dest="$CACHE/regress-$major"
if [ -e "$dest/.ready" ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "70-regression-suite: needs root and apt-get to fetch the PostgreSQL $major sources; skipped" >&2
    exit 0
fi
package="postgresql-$major"
version="$(dpkg-query -W -f='${Version}' "$package" 2>/dev/null || true)"
echo "70-regression-suite: fetching the $package ${version:-(any)} sources and building regress.so into $dest"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/dl"
. /etc/os-release
cat > "$work/sources.list" <<LIST
deb-src http://deb.debian.org/debian ${VERSION_CODENAME} main
deb-src http://deb.debian.org/debian ${VERSION_CODENAME}-updates main
deb-src http://deb.debian.org/debian-security ${VERSION_CODENAME}-security main
LIST
apt_src=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
         -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
apt-get -qq "${apt_src[@]}" update
(cd "$work/dl" && { apt-get -qq "${apt_src[@]}" source --download-only "$package=$version" 2>/dev/null \
                   || apt-get -qq "${apt_src[@]}" source --download-only "$package"; })
tarball="$(ls "$work"/dl/*.orig.tar.* | head -1)"
top="$( (tar tf "$tarball" 2>/dev/null || true) | head -1 | cut -d/ -f1)"
tar xf "$tarball" -C "$work" "$top/src/test/regress"

# Headers and pg_regress of the installed server's release (the one regress.so must match).
dev="postgresql-server-dev-$major"
if [ ! -x "/usr/lib/postgresql/$major/lib/pgxs/src/test/regress/pg_regress" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$dev=$version" >/dev/null 2>&1 \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$dev" >/dev/null
fi
command -v gcc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null

rm -rf "$dest.tmp" && mkdir -p "$dest.tmp/lib"
cp -r "$work/$top/src/test/regress" "$dest.tmp/regress"
gcc -O1 -fPIC -shared -I"$("$bindir/pg_config" --includedir-server)" -I"$dest.tmp/regress" \
    "$dest.tmp/regress/regress.c" -o "$dest.tmp/lib/regress.so"
libdir="$("$bindir/pg_config" --pkglibdir)"
cp "$libdir/autoinc.so" "$libdir/refint.so" "$dest.tmp/lib/"
cp "/usr/lib/postgresql/$major/lib/pgxs/src/test/regress/pg_regress" "$dest.tmp/pg_regress"
echo "$bindir" > "$dest.tmp/bindir"
chmod -R a+rX "$dest.tmp"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "${version:-unknown}" > "$dest/.ready"
echo "70-regression-suite: ready in $dest"
