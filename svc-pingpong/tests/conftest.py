from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment that points a pingpong process at each supported database."""
    if request.param == "postgresql":
        return {"DATABASE_URL": request.getfixturevalue("database_url")}
    return {"DATABASE_URL": "", "DATA_DIR": str(tmp_path / "data")}
