"""Print ``::add-mask::`` for every secret the action was given, and for the parts of each that
could show on their own: a database URL's password (as written and percent-decoded), a libpq
``password=`` value, and each line of a multi-line value. Reads PGDRILL_ACTION_MASK_* only.
Runs on the runner's own Python before pgdrill is installed, so: standard library only.

After the masks it prints what setup.sh needs to know of this interpreter (one process start
instead of three): ``python-version=3.12``, ``python-executable=<real path>`` and
``python-ok=true|false`` (pgdrill needs 3.10+)."""

from __future__ import annotations

import os
import re
import sys
from urllib.parse import unquote, urlsplit

_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def parts(value: str) -> list[str]:
    found = [value]
    for line in value.splitlines():
        line = line.strip()
        if not line:
            continue
        found.append(line)
        if "://" in line:
            try:
                password = urlsplit(line).password
            except ValueError:
                password = None
            if password:
                found += [password, unquote(password)]
        for match in _KEYWORD_PASSWORD.finditer(line):
            found.append(match.group(1).strip("'"))
    # Very short values would mask innocent text everywhere; GitHub ignores blanks anyway.
    return [p for p in dict.fromkeys(found) if len(p) >= 4 and "\n" not in p]


def main() -> None:
    for name in sorted(os.environ):
        if name.startswith("PGDRILL_ACTION_MASK_"):
            for part in parts(os.environ[name]):
                print(f"::add-mask::{part}", flush=True)
    print(f"python-version={sys.version_info[0]}.{sys.version_info[1]}")
    print(f"python-executable={os.path.realpath(sys.executable)}")
    print(f"python-ok={'true' if sys.version_info >= (3, 10) else 'false'}")


if __name__ == "__main__":
    main()
