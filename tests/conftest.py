import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("EC_BENCH_DIR", ROOT.parent / "shared" / "bench"))
SANITIZE = os.environ.get("EC_SANITIZE") == "1"


def pytest_configure(config):
    os.environ.setdefault("EC_CACHE_DIR", str(ROOT / ".cache"))


@pytest.fixture(scope="session")
def bench_dir():
    if not (BENCH / "models").is_dir():
        pytest.skip(f"MLPerf Tiny bench not found at {BENCH} (set EC_BENCH_DIR or place ../shared/bench)")
    return BENCH
