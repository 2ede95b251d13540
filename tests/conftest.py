"""Fixtures for the CLI, bad-input and self-test suites (`make test`).

The helpers (paths, GNU tools per target, the image format) live in
conformance/harness.py, shared with the conformance suite.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "conformance"))

import harness  # noqa: E402


def pytest_configure(config):
    # test_selftest.py imports conformance/test_wx.py, whose tests carry this marker.
    config.addinivalue_line("markers", "kind(name): report kind (see conformance/conftest.py)")


@pytest.fixture(scope="session")
def imago_bin():
    if not os.path.exists(harness.IMAGO):
        pytest.fail("%s does not exist: run `make all` first (or set IMAGO_BIN)"
                    % harness.rel(harness.IMAGO), pytrace=False)
    return harness.IMAGO


# The seed program's bytes per target (GNU as + ld -Ttext=0, checked by
# conformance/test_programs.py), so the image tests here do not depend on
# `imago asm`: images are built by harness.img_build.
SEED_CODE = {
    "x86_64": "53bb05000000b82a000000eb0201d85bc3",
    "i386": "53bb05000000b82a000000eb0201d85bc3",
    "arm": "10402de90540a0e32a00a0e3000000ea040080e01080bde8",
    "aarch64": "fd7bbfa9fd03009140058052a1008052020000140000010bfd7bc1a8c0035fd6",
}


@pytest.fixture
def seed_image(tmp_path):
    """seed_image(target) -> path of a valid image whose `main` returns 42."""

    def make(target="x86_64", name="seed.img"):
        data = harness.img_build([dict(target=target, code=bytes.fromhex(SEED_CODE[target]),
                                       syms=[("main", 0, harness.SYM_FUNC)])])
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return make
