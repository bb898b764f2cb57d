"""Fixtures of the check tests: one recorded world for the whole directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from check_world_kit import CheckWorld, record_world


@pytest.fixture(scope="session")
def check_world(
    tmp_path_factory: pytest.TempPathFactory,
    understudy_env: dict[str, str],
    mitm_confdir: Path,
    wait_for_port,
) -> CheckWorld:
    return record_world(tmp_path_factory.mktemp("check-world"), understudy_env, mitm_confdir,
                        wait_for_port)  # fmt: skip
