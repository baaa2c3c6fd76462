"""What the CI environment tells about the current run (GitHub Actions, and generic fallbacks)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RunInfo:
    git_sha: str | None = None
    git_ref: str | None = None
    run_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunInfo:
        env = os.environ if env is None else env
        sha = env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA") or env.get("GIT_COMMIT") or None
        ref = env.get("GITHUB_REF_NAME") or env.get("GITHUB_REF") or env.get("CI_COMMIT_REF_NAME") or None
        url = None
        if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
            server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
            url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
            if env.get("GITHUB_RUN_ATTEMPT"):
                url += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
        url = url or env.get("CI_JOB_URL") or env.get("BUILD_URL") or None
        return cls(sha, ref, url)
