#!/usr/bin/env bash
# Make sure a PostgreSQL client of the server's major version is on the runner.
#
#   PGDRILL_ACTION_POSTGRES_VERSION        the server's major version (postgres-version input), e.g. 16
#   PGDRILL_ACTION_INSTALL_CLIENT  auto | true | false
#
# auto installs only on GitHub-hosted Ubuntu runners (RUNNER_ENVIRONMENT=github-hosted), where apt
# and sudo are there to use; elsewhere (self-hosted runners, act) it leaves the machine alone and
# pgdrill finds a client itself (or fetches one when allow-download is true). true installs from
# the PostgreSQL apt repository (PGDG) on any Debian/Ubuntu runner. false never installs.
set -euo pipefail

major="${PGDRILL_ACTION_POSTGRES_VERSION:-}"
mode="${PGDRILL_ACTION_INSTALL_CLIENT:-auto}"
major="${major%%.*}"
if [ -z "$major" ]; then
    echo "pgdrill: no postgres-version given; pgdrill picks the client from the server's version"
    exit 0
fi
if ! [[ "$major" =~ ^[0-9]+$ ]]; then
    echo "::error title=pgdrill::postgres-version must be a major version such as 16 (got '${PGDRILL_ACTION_POSTGRES_VERSION}')"
    exit 2
fi

case "$mode" in
    false) echo "pgdrill: install-client is false; not installing a PostgreSQL client"; exit 0 ;;
    true|auto) ;;
    *) echo "::error title=pgdrill::install-client must be auto, true or false (got '$mode')"; exit 2 ;;
esac

if [ -x "/usr/lib/postgresql/$major/bin/pg_dump" ]; then
    echo "pgdrill: PostgreSQL $major client found in /usr/lib/postgresql/$major/bin"
    exit 0
fi

if [ "$mode" = auto ]; then
    if [ "${RUNNER_ENVIRONMENT:-}" != "github-hosted" ] || [ "${RUNNER_OS:-}" != "Linux" ]; then
        echo "pgdrill: not a GitHub-hosted Linux runner; leaving client installation to pgdrill" \
             "(set install-client: true to install postgresql-client-$major with apt)"
        exit 0
    fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "::error title=pgdrill::no PostgreSQL $major client and no apt-get to install postgresql-client-$major;" \
         "install it on the runner, or set allow-download: true"
    exit 3
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "::error title=pgdrill::installing postgresql-client-$major needs root or sudo"
        exit 3
    fi
    sudo="sudo"
fi

echo "::group::Install postgresql-client-$major (PGDG apt repository)"
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show "postgresql-client-$major" >/dev/null 2>&1; then
    if [ -x /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh ]; then
        $sudo /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y
    else
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq ca-certificates curl lsb-release
        $sudo install -d /usr/share/postgresql-common/pgdg
        $sudo curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
            https://www.postgresql.org/media/keys/ACCC4CF8.asc
        echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt $(lsb_release -cs)-pgdg main" \
            | $sudo tee /etc/apt/sources.list.d/pgdg.list >/dev/null
        $sudo apt-get update -qq
    fi
fi
$sudo apt-get install -y -qq --no-install-recommends "postgresql-client-$major"
echo "::endgroup::"

if [ ! -x "/usr/lib/postgresql/$major/bin/pg_dump" ]; then
    echo "::error title=pgdrill::postgresql-client-$major installed but /usr/lib/postgresql/$major/bin/pg_dump is missing"
    exit 3
fi
echo "pgdrill: installed $("/usr/lib/postgresql/$major/bin/pg_dump" --version)"
