#!/usr/bin/env bash
# The app's deploy (examples/workflows/pre-deploy.yml).
set -euo pipefail
echo "deploying the app"
