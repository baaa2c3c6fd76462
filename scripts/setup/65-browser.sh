#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser tests (tests/browser): Debian's `chromium` and
# `chromium-driver` packages (the browser comes from the distribution, never downloaded by a test
# tool) and a font, so text has a width. The tests drive Chromium over the DevTools protocol with
# `websockets` (in the test extra). Idempotent: a second run only probes.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "65-browser: installing chromium and chromium-driver"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            chromium chromium-driver fonts-dejavu-core >/dev/null
    else
        echo "65-browser: chromium is missing: apt-get install chromium chromium-driver" >&2
        exit 1
    fi
fi
chromium --version >/dev/null 2>&1
