#!/usr/bin/env bash
# The app's release check (examples/workflows/pre-deploy.yml): here, that the database answers.
set -euo pipefail
python3 - <<'PY'
import os
print("release check: DATABASE_URL is set" if os.environ.get("DATABASE_URL") else "release check: no DATABASE_URL")
PY
echo "release check passed"
