"""The imago command line: help texts and usage errors."""

import pytest

import harness

COMMANDS = ["asm", "run", "dump", "vectors"]


def test_help(imago_bin):
    p = harness.imago("--help")
    assert p.returncode == 0, p.stderr
    for c in COMMANDS:
        assert c in p.stdout, "imago --help does not list %r:\n%s" % (c, p.stdout)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_subcommand_help(imago_bin, cmd):
    p = harness.imago(cmd, "--help")
    assert p.returncode == 0, "imago %s --help exited %d: %s" % (cmd, p.returncode, p.stderr)
    assert "usage" in p.stdout.lower(), "imago %s --help prints no usage:\n%s" % (cmd, p.stdout)
    assert cmd in p.stdout


def test_no_command(imago_bin):
    p = harness.imago()
    assert p.returncode > 0
    assert "usage" in p.stderr.lower()


def test_unknown_command(imago_bin):
    p = harness.imago("frobnicate")
    assert p.returncode > 0
    assert "frobnicate" in p.stderr and p.stdout == ""


@pytest.mark.parametrize("cmd", ["asm", "vectors"])
def test_unknown_target(imago_bin, cmd, tmp_path):
    src = tmp_path / "x.s"
    src.write_text("ret\n")
    args = {"asm": ["asm", "-a", "sparc", str(src), "-o", str(tmp_path / "x.img")],
            "vectors": ["vectors", "-a", "sparc"]}[cmd]
    p = harness.imago(*args)
    assert p.returncode > 0, "imago %s accepted target sparc" % cmd
    assert "sparc" in p.stderr, p.stderr
    assert not (tmp_path / "x.img").exists()


def test_run_unknown_target(imago_bin, seed_image):
    p = harness.imago("run", seed_image(), "--target", "sparc")
    assert p.returncode == 1 and "sparc" in p.stderr, p.stderr


def test_run_unknown_engine(imago_bin, seed_image):
    p = harness.imago("run", seed_image(), "--engine", "warp")
    assert p.returncode == 1 and "warp" in p.stderr, p.stderr


def test_run_unknown_option(imago_bin, seed_image):
    p = harness.imago("run", seed_image(), "--frobnicate")
    assert p.returncode > 0 and "frobnicate" in p.stderr, p.stderr


@pytest.mark.parametrize("target", harness.TARGETS)
def test_run_seed_image(imago_bin, seed_image, target):
    """Control for the error tests: a valid image runs on the default engine."""
    p = harness.imago("run", seed_image(target), "--target", target)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "42", p.stdout


def test_run_verbose(imago_bin, seed_image):
    p = harness.imago("run", seed_image(), "-v")
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip().splitlines()[-1]
    fields = dict(kv.split("=", 1) for kv in line.split())
    assert fields.get("target") == "x86_64" and fields.get("result") == "42", line
    assert fields.get("entry") == "main" and fields.get("base", "").startswith("0x"), line
    assert fields.get("engine") in harness.ENGINES, line


def test_dump(imago_bin, seed_image):
    p = harness.imago("dump", seed_image())
    assert p.returncode == 0, p.stderr
    assert "x86_64" in p.stdout and "main" in p.stdout, p.stdout


@pytest.mark.parametrize("cmd,options", [
    ("asm", ["--targets", "--module", "-m", "--add-to", "--raw"]),
    ("run", ["--module", "--target", "--engine", "--entry"]),
    ("dump", ["--relocate"]),
])
def test_help_names_options(imago_bin, cmd, options):
    p = harness.imago(cmd, "--help")
    assert p.returncode == 0, p.stderr
    for o in options:
        assert o in p.stdout, "imago %s --help does not name %s:\n%s" % (cmd, o, p.stdout)


def test_asm_option_without_value(imago_bin, tmp_path):
    src = tmp_path / "x.s"
    src.write_text("ret\n")
    for opt in ("-m", "--module", "--add-to", "--targets"):
        p = harness.imago("asm", "-a", "aarch64", str(src), "-o", str(tmp_path / "x.img"), opt)
        assert p.returncode == 2 and opt in p.stderr, (opt, p.stderr)
        assert not (tmp_path / "x.img").exists()


def test_dump_bad_relocate_address(imago_bin, seed_image):
    for bad in ("0x1001", "-4096", "zz"):
        p = harness.imago("dump", "--relocate", bad, seed_image())
        assert p.returncode == 2 and bad in p.stderr, (bad, p.stderr)
