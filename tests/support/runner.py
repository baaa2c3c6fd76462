"""Run the real `pgdrill` entry point, in-process or as a subprocess, and capture everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from pgdrill import cli


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def text(self) -> str:
        return self.out + self.err


def pgdrill(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    capsys.readouterr()
    code = cli.main(list(args))
    cap = capsys.readouterr()
    return Run(code, cap.out, cap.err)


def pgdrill_process(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
                    cwd: str | None = None) -> Run:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "pgdrill", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)
