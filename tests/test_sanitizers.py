"""The host parity suites (ops, sparse kernels) again, with runtime and generated code built under ASan + UBSan.

Python itself is not instrumented, so libasan is preloaded into a child pytest process."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SANITIZE


def _libasan() -> str | None:
    try:
        out = subprocess.run(["cc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return None
    return out if os.path.isabs(out) and os.path.exists(out) else None


@pytest.mark.skipif(SANITIZE, reason="already inside the sanitizer run")
def test_op_parity_under_asan_ubsan():
    lib = _libasan()
    if lib is None:
        pytest.skip("the host compiler has no libasan.so (install gcc's libasan)")
    env = dict(os.environ, LD_PRELOAD=lib, EC_SANITIZE="1",
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1", UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist",
                        "tests/test_op_parity.py", "tests/test_sparse.py", "tests/test_dsp_emulation.py", "-k",
                        "test_c_equals_ref_int8 or test_sparse_c_bit_exact or test_wide_"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    tail = "\n".join((r.stdout + r.stderr).splitlines()[-40:])
    assert r.returncode == 0, f"sanitizer run failed:\n{tail}"
    assert " passed" in r.stdout, tail
