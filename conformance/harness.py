"""Shared pieces of the imago conformance harness (stdlib only).

Imported by conformance/conftest.py, the conformance tests and tests/*.py:
paths, the target list and the GNU tools per target, subprocess helpers, the
program sources with their expected values, a small ELF reader and the image
format helpers that the fault injections need.

Environment knobs (all optional):
  IMAGO_BIN            imago binary to test (default: <repo>/build/bin/imago)
  IMAGO_BUILD          build directory (default: <repo>/build)
  IMAGO_RUNNER_DIR     passed through to imago (where imago-runner-<target> live)
  IMAGO_BATCH          vectors per GNU as batch (default 20000)
  IMAGO_VECTORS_ARGS   extra arguments for `imago vectors` (e.g. "--seed 7")
Fault injections, used by tests/test_selftest.py to prove the checks can fail:
  IMAGO_FAULT_STRIP_RELOCS=1   strip every relocation record from the images the
                               program tests build (valid image, unrelocated code)
  IMAGO_FAULT_EXPECT_DELTA=N   add N to every expected value
"""

import os
import platform
import re
import shlex
import shutil
import struct
import subprocess
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFORMANCE = os.path.join(ROOT, "conformance")
PROGRAMS = os.path.join(CONFORMANCE, "programs")
BUILD = os.path.abspath(os.environ.get("IMAGO_BUILD") or os.path.join(ROOT, "build"))
IMAGO = os.path.abspath(os.environ.get("IMAGO_BIN") or os.path.join(BUILD, "bin", "imago"))
REPORTS = os.path.join(BUILD, "reports")

TARGETS = ["x86_64", "i386", "arm", "aarch64"]
ENGINES = ["native", "qemu", "unicorn"]

# GNU tools per target, by their triplet names (the same on x86-64 and arm64
# machines: the native binutils install them too). `as` is a list of argv words; `header` starts every
# source the harness writes; `objdump_bin` disassembles bare bytes.
TOOLS = {
    "x86_64": {
        "as": ["x86_64-linux-gnu-as", "--64"],
        "objdump": "x86_64-linux-gnu-objdump",
        "ld": ["x86_64-linux-gnu-ld", "-m", "elf_x86_64"],
        "objcopy": "x86_64-linux-gnu-objcopy",
        "cc": "x86_64-linux-gnu-gcc",
        "qemu": "qemu-x86_64",
        "header": ".intel_syntax noprefix\n.text\n",
        "objdump_bin": ["-b", "binary", "-m", "i386:x86-64", "-M", "intel"],
        "objdump_obj": ["-M", "intel"],
        "ptr": 8,
        "bases": [0x10000000, 0x7E0000000000],
    },
    "i386": {
        "as": ["i686-linux-gnu-as", "--32"],
        "objdump": "i686-linux-gnu-objdump",
        "ld": ["i686-linux-gnu-ld", "-m", "elf_i386"],
        "objcopy": "i686-linux-gnu-objcopy",
        "cc": "i686-linux-gnu-gcc",
        "qemu": "qemu-i386",
        "header": ".intel_syntax noprefix\n.text\n",
        "objdump_bin": ["-b", "binary", "-m", "i386", "-M", "intel"],
        "objdump_obj": ["-M", "intel"],
        "ptr": 4,
        "bases": [0x10000000, 0x60000000],
    },
    "arm": {
        # ARMv7-A with the integer divide extension (sdiv/udiv) and VFPv3-D32 with NEON:
        # the whole table of imago's A32 encoder (docs/engines.md); without them GNU as
        # refuses sdiv and every VFP form.
        "as": ["arm-linux-gnueabihf-as", "-march=armv7-a+idiv", "-mfpu=neon"],
        "objdump": "arm-linux-gnueabihf-objdump",
        "ld": ["arm-linux-gnueabihf-ld"],
        "objcopy": "arm-linux-gnueabihf-objcopy",
        "cc": "arm-linux-gnueabihf-gcc",
        "qemu": "qemu-arm",
        "header": ".syntax unified\n.arm\n.text\n",
        "objdump_bin": ["-b", "binary", "-m", "arm", "-EL"],
        "objdump_obj": [],
        "ptr": 4,
        "bases": [0x10000000, 0x60000000],
    },
    "aarch64": {
        # FEAT_FP16 (the half-precision FP arithmetic of ARMv8.2) on top of GNU as's
        # default ARMv8.0: imago accepts its whole table always (docs/engines.md), the
        # oracle needs the extension named. Nothing else is enabled, so every negative
        # GNU as rejects is still rejected for the instruction, not for the CPU.
        "as": ["aarch64-linux-gnu-as", "-march=armv8-a+fp16"],
        "objdump": "aarch64-linux-gnu-objdump",
        "ld": ["aarch64-linux-gnu-ld"],
        "objcopy": "aarch64-linux-gnu-objcopy",
        "cc": "aarch64-linux-gnu-gcc",
        "qemu": "qemu-aarch64",
        "header": ".text\n",
        "objdump_bin": ["-b", "binary", "-m", "aarch64"],
        "objdump_obj": [],
        "ptr": 8,
        "bases": [0x10000000, 0x7E0000000000],
    },
}

# Mnemonics (text prefixes) whose target field is page-relative (page(target) - page(pc)),
# per target, and the relocations GNU as (and llvm-mc) leave for them: the conformance
# batches place such a vector at the start of a 4 KiB page and link the object at address
# 0 (conformance/test_encodings.py).
PAGE_MNEMONICS = {"aarch64": ("adrp ",)}
PAGE_RELOCS = {"aarch64": ("R_AARCH64_ADR_PREL_PG_HI21",)}


def page_relative(target, text):
    """Whether the vector's text is page-relative (placed at the start of a page)."""
    prefixes = PAGE_MNEMONICS.get(target)
    return bool(prefixes) and text.startswith(prefixes)


_MACHINE_TO_TARGET = {
    "x86_64": "x86_64", "amd64": "x86_64",
    "i386": "i386", "i486": "i386", "i586": "i386", "i686": "i386",
    "aarch64": "aarch64", "arm64": "aarch64",
    "armv7l": "arm", "armv8l": "arm", "arm": "arm",
}
# ELF e_machine -> target
_EM_TO_TARGET = {62: "x86_64", 3: "i386", 40: "arm", 183: "aarch64"}


def machine_target():
    """The target the machine running the harness is (its CPU)."""
    return _MACHINE_TO_TARGET.get(platform.machine().lower(), platform.machine().lower())


def elf_target(path):
    """Target of an ELF executable (from e_machine), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return _EM_TO_TARGET.get(struct.unpack_from("<H", head, 18)[0])


def host():
    """Where imago's own C code runs: the architecture of the imago binary
    (falls back to the machine's when it is not built yet)."""
    return elf_target(IMAGO) or machine_target()


def engines_for(target):
    """Engines that can run `target` on this machine. native covers the machine's
    own target, and i386 on an x86_64 machine (an i686 runner runs natively)."""
    m = machine_target()
    out = []
    if target == m or (m == "x86_64" and target == "i386"):
        out.append("native")
    out += ["qemu", "unicorn"]
    return out


def inprocess(target, engine):
    """Engine variants to run: the native engine of the machine's own target also
    runs in imago's own process (`imago run --in-process`), the way a JIT uses it."""
    if engine == "native" and target == machine_target():
        return [False, True]
    return [False]


def cells():
    """Every (target, engine) pair that this machine runs."""
    return [(t, e) for t in TARGETS for e in engines_for(t)]


def have(tool):
    return shutil.which(tool) is not None


def missing_tools(target, which=("as", "objdump")):
    """Names of the target's GNU tools (by role) that are not installed."""
    spec = TOOLS[target]
    out = []
    for role in which:
        v = spec[role]
        name = v[0] if isinstance(v, list) else v
        if not have(name):
            out.append(name)
    return out


def run(argv, timeout=300, **kw):
    """subprocess.run with text output captured and a timeout."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("universal_newlines", True)
    return subprocess.run(argv, timeout=timeout, **kw)


def no_core_files():
    """preexec_fn: no core dumps (qemu-user writes one per faulting guest into cwd)."""
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def imago_env():
    env = dict(os.environ)
    if "IMAGO_RUNNER_DIR" not in env and os.path.isdir(os.path.join(BUILD, "bin")):
        env["IMAGO_RUNNER_DIR"] = os.path.join(BUILD, "bin")
    return env


def imago(*args, timeout=300, **kw):
    kw.setdefault("env", imago_env())
    kw.setdefault("preexec_fn", no_core_files)
    return run([IMAGO] + [str(a) for a in args], timeout=timeout, **kw)


def rel(path):
    """Path relative to the repository root when inside it (for messages)."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def shjoin(argv):
    return " ".join(shlex.quote(str(a)) for a in argv)


def first_line(text):
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def tool_version(argv):
    try:
        p = run(argv, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return "unavailable (%s)" % e
    return first_line(p.stdout) or first_line(p.stderr) or "unknown"


def tool_version_all(argv):
    """A tool's whole --version output ('' when it cannot run)."""
    try:
        p = run(argv, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return p.stdout + p.stderr


def versions():
    """Versions of everything the harness checks against (report `versions`)."""
    v = {
        "as": tool_version([TOOLS["x86_64"]["as"][0], "--version"]),
        "objdump": tool_version([TOOLS["x86_64"]["objdump"], "--version"]),
        "qemu": tool_version(["qemu-x86_64", "--version"]),
        "unicorn": "unknown",
        "imago": "unknown",
        "python": platform.python_version(),
    }
    for pkg in ("libunicorn2", "libunicorn1", "libunicorn-dev"):
        try:
            p = run(["dpkg-query", "-W", "-f=${Version}", pkg], timeout=30)
        except (OSError, subprocess.SubprocessError):
            break
        if p.returncode == 0 and p.stdout.strip():
            v["unicorn"] = "%s %s" % (pkg, p.stdout.strip())
            break
    if os.path.exists(IMAGO):
        try:
            p = run([IMAGO, "--version"], timeout=30)
            if p.returncode == 0 and first_line(p.stdout):
                v["imago"] = first_line(p.stdout)
        except (OSError, subprocess.SubprocessError):
            pass
    if v["imago"] == "unknown":
        try:
            p = run(["git", "-C", ROOT, "describe", "--always", "--dirty"], timeout=30)
            if p.returncode == 0 and p.stdout.strip():
                v["imago"] = "git " + p.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    # The second opinions (docs/second-opinions.md): capstone's package, llvm-mc's version.
    try:
        p = run(["dpkg-query", "-W", "-f=${Version}", "libcapstone-dev"], timeout=30)
        v["capstone"] = p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        v["capstone"] = "unknown"
    m = re.search(r"LLVM version (\S+)", " ".join(
        tool_version_all(["llvm-mc", "--version"]).split()))
    v["llvm_mc"] = m.group(1) if m else "unavailable"
    v["as_by_target"] = {t: tool_version([TOOLS[t]["as"][0], "--version"]) for t in TARGETS}
    v["qemu_by_target"] = {t: tool_version([TOOLS[t]["qemu"], "--version"]) for t in TARGETS}
    return v


def disasm(target, hexstr, tmpdir):
    """objdump's disassembly of bare bytes, one instruction per line."""
    if not hexstr:
        return "(no bytes)"
    path = os.path.join(tmpdir, "dis.bin")
    with open(path, "wb") as f:
        f.write(bytes.fromhex(hexstr))
    spec = TOOLS[target]
    p = run([spec["objdump"], "-D", "-z"] + spec["objdump_bin"] + [path])
    out = []
    for line in p.stdout.splitlines():
        f = line.split("\t")
        # "   0:<TAB>01 d8<TAB>add eax,ebx"; continuation lines carry bytes only
        if len(f) >= 3 and re.match(r"^\s*[0-9a-f]+:$", f[0]):
            out.append(re.sub(r"\s+", " ", " ".join(f[2:])).strip())
    return " ; ".join(out) if out else (p.stderr.strip() or "(objdump printed nothing)")


def spaced(hexstr):
    return " ".join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2)) or "(none)"



# ---- programs ----------------------------------------------------------------

_EXPECT_RE = re.compile(r"^\s*(?:#|@|//|;)\s*expect:\s*(-?(?:0x[0-9a-fA-F]+|\d+))\s*$", re.M)


def program_names(target):
    d = os.path.join(PROGRAMS, target)
    if not os.path.isdir(d):
        return []
    return sorted(f[:-2] for f in os.listdir(d) if f.endswith(".s"))


def program_path(target, name):
    return os.path.join(PROGRAMS, target, name + ".s")


def expected_value(path):
    """The `expect: N` comment of a program, plus IMAGO_FAULT_EXPECT_DELTA."""
    with open(path) as f:
        m = _EXPECT_RE.search(f.read())
    if not m:
        raise ValueError("%s: no '# expect: N' comment" % rel(path))
    return int(m.group(1), 0) + int(os.environ.get("IMAGO_FAULT_EXPECT_DELTA", "0") or 0)


def faults_active():
    out = []
    if os.environ.get("IMAGO_FAULT_STRIP_RELOCS"):
        out.append("IMAGO_FAULT_STRIP_RELOCS")
    if os.environ.get("IMAGO_FAULT_STATE_DROP"):
        out.append("IMAGO_FAULT_STATE_DROP=%s" % os.environ["IMAGO_FAULT_STATE_DROP"])
    if os.environ.get("IMAGO_FAULT_STATE_SCAFFOLD"):
        out.append("IMAGO_FAULT_STATE_SCAFFOLD")
    if os.environ.get("IMAGO_FAULT_STATE_IMPLICIT"):
        out.append("IMAGO_FAULT_STATE_IMPLICIT")
    if os.environ.get("IMAGO_FAULT_STATE_MONITOR"):
        out.append("IMAGO_FAULT_STATE_MONITOR")
    if os.environ.get("IMAGO_FAULT_STATE_COND"):
        out.append("IMAGO_FAULT_STATE_COND")
    if os.environ.get("IMAGO_FAULT_EXPECT_DELTA") not in (None, "", "0"):
        out.append("IMAGO_FAULT_EXPECT_DELTA=%s" % os.environ["IMAGO_FAULT_EXPECT_DELTA"])
    return out


# ---- builds shared by the program tests ----------------------------------------


class Builds:
    """Per-worker cache of images, raw bytes and GNU executables. Each value is
    (path, None) or (None, failure message)."""

    def __init__(self, root):
        self.root = root
        self.memo = {}

    def _once(self, key, fn):
        if key not in self.memo:
            try:
                self.memo[key] = (fn(), None)
            except BuildError as e:
                self.memo[key] = (None, str(e))
        return self.memo[key]

    def _dir(self, target):
        d = os.path.join(self.root, target)
        os.makedirs(d, exist_ok=True)
        return d

    def image(self, target, prog):
        def build():
            out = os.path.join(self._dir(target), prog + ".img")
            argv = [IMAGO, "asm", "-a", target, program_path(target, prog),
                    "-o", out]
            check(argv, imago(*argv[1:]), out)
            return fault_strip_relocs(out)
        return self._once(("img", target, prog), build)

    def imago_raw(self, target, prog):
        def build():
            out = os.path.join(self._dir(target), prog + ".imago.bin")
            argv = [IMAGO, "asm", "-a", target, "--raw",
                    program_path(target, prog), "-o", out]
            check(argv, imago(*argv[1:]), out)
            return out
        return self._once(("raw", target, prog), build)

    def gnu_object(self, target, prog):
        def build():
            spec = TOOLS[target]
            out = os.path.join(self._dir(target), prog + ".o")
            argv = spec["as"] + ["-o", out, program_path(target, prog)]
            check(argv, run(argv), out)
            return out
        return self._once(("obj", target, prog), build)

    def gnu_raw(self, target, prog):
        def build():
            obj, err = self.gnu_object(target, prog)
            if err:
                raise BuildError(err)
            spec = TOOLS[target]
            elf = obj[:-2] + ".elf"
            out = obj[:-2] + ".gnu.bin"
            argv = spec["ld"] + ["-Ttext=0", "-e", "main", "-o", elf, obj]
            check(argv, run(argv), elf)
            argv = [spec["objcopy"], "-O", "binary", "-j", ".text", elf, out]
            check(argv, run(argv), out)
            return out
        return self._once(("gnuraw", target, prog), build)

    def gnu_exe(self, target, prog):
        def build():
            obj, err = self.gnu_object(target, prog)
            if err:
                raise BuildError(err)
            spec = TOOLS[target]
            renamed = obj[:-2] + ".prog.o"
            argv = [spec["objcopy"], "--redefine-sym", "main=prog_main", obj, renamed]
            check(argv, run(argv), renamed)
            exe = obj[:-2] + ".exe"
            argv = [spec["cc"], "-static", "-Wl,-z,noexecstack", "-o", exe,
                    os.path.join(PROGRAMS, "driver.c"), renamed]
            check(argv, run(argv), exe)
            return exe
        return self._once(("exe", target, prog), build)


    def gnu_image(self, target, prog):
        """An image built by the harness from GNU's bytes (as + ld -Ttext=0) and
        GNU's relocations, independent of `imago asm`."""
        def build():
            raw, err = self.gnu_raw(target, prog)
            if err:
                raise BuildError(err)
            obj = raw[:-len(".gnu.bin")] + ".o"
            elf = raw[:-len(".gnu.bin")] + ".elf"
            with open(raw, "rb") as f:
                code = f.read()
            spec = TOOLS[target]
            p = run([spec["objdump"], "-r", "-j", ".text", obj])
            relocs = []
            for line in p.stdout.splitlines():
                f = line.split()
                if len(f) >= 2 and re.fullmatch(r"[0-9a-f]+", f[0]) and f[1] in GNU_RELOCS:
                    off, kind = int(f[0], 16), GNU_RELOCS[f[1]]
                    size = 8 if kind == RELOC_ABS64 else 4
                    # linked at 0, the field holds the target's offset: the addend
                    addend = int.from_bytes(code[off:off + size], "little")
                    relocs.append((off, kind, -1, addend))
                elif len(f) >= 2 and re.fullmatch(r"[0-9a-f]+", f[0]):
                    raise BuildError("%s: relocation %s not handled" % (rel(obj), f[1]))
            p = run([spec["objdump"], "-t", elf])
            syms = []
            for line in p.stdout.splitlines():
                f = line.split()
                if len(f) >= 4 and f[-1] == "main" and " g " in line:
                    syms.append(("main", int(f[0], 16), SYM_FUNC))
            if not syms:
                raise BuildError("%s: no global main" % rel(elf))
            out = raw[:-len(".gnu.bin")] + ".gnu.img"
            with open(out, "wb") as f:
                f.write(img_build([dict(target=target, code=code, syms=syms, relocs=relocs)]))
            return fault_strip_relocs(out)
        return self._once(("gnuimg", target, prog), build)


class BuildError(Exception):
    pass


def fault_strip_relocs(path):
    """Under IMAGO_FAULT_STRIP_RELOCS, a copy of the image without relocations."""
    if not os.environ.get("IMAGO_FAULT_STRIP_RELOCS"):
        return path
    with open(path, "rb") as f:
        data, _n = img_strip_relocs(f.read())
    out = path[:-4] + ".norelocs.img"
    with open(out, "wb") as f:
        f.write(data)
    return out


def check(argv, p, out):
    if p.returncode != 0 or not os.path.exists(out):
        raise BuildError("`%s` exited %d%s:\n%s" % (
            shjoin([rel(a) for a in argv]), p.returncode,
            "" if os.path.exists(out) else " (no output file)",
            (p.stderr or p.stdout).strip()[-3000:]))



# ---- the imago image format (docs/image-format.md) ---------------------------

IMG_MAGIC = b"\x7fIMG\r\n\x1a\n"
HDR_VERSION, HDR_TOTAL, HDR_CHECKSUM = 8, 16, 20
HDR_NSECT, HDR_SECTOFF, HDR_SECTENT = 28, 32, 36
SEC_TARGET, SEC_CODEOFF, SEC_CODESIZE, SEC_NRELS = 0, 12, 16, 32


def img_checksum(data):
    """CRC-32 (zlib) of the image with the checksum field read as zero."""
    data = bytearray(data)
    data[HDR_CHECKSUM:HDR_CHECKSUM + 4] = b"\0\0\0\0"
    return zlib.crc32(bytes(data)) & 0xFFFFFFFF


def img_fix_checksum(data):
    data = bytearray(data)
    struct.pack_into("<I", data, HDR_CHECKSUM, img_checksum(data))
    return bytes(data)


def img_sections(data):
    """(entry offset, target number, nrels) of every section entry."""
    nsect, sectoff, sectent = struct.unpack_from("<III", data, HDR_NSECT)
    out = []
    for i in range(nsect):
        e = sectoff + i * sectent
        target, = struct.unpack_from("<I", data, e + SEC_TARGET)
        nrels, = struct.unpack_from("<I", data, e + SEC_NRELS)
        out.append((e, target, nrels))
    return out


def img_strip_relocs(data):
    """The same image with every section's relocation count set to zero and the
    checksum fixed: a valid image whose code is never relocated. Returns
    (new bytes, number of relocation records removed)."""
    if data[:8] != IMG_MAGIC:
        raise ValueError("not an imago image")
    data = bytearray(data)
    removed = 0
    for e, _t, nrels in img_sections(data):
        removed += nrels
        struct.pack_into("<I", data, e + SEC_NRELS, 0)
    return img_fix_checksum(data), removed


def img_set_version(data, version):
    data = bytearray(data)
    struct.pack_into("<I", data, HDR_VERSION, version)
    return img_fix_checksum(data)


TARGET_NUMBERS = {"x86_64": 1, "i386": 2, "arm": 3, "aarch64": 4}
SYM_FUNC, SYM_DATA = 1, 2
RELOC_ABS32, RELOC_ABS64 = 1, 2
GNU_RELOCS = {"R_X86_64_64": RELOC_ABS64, "R_386_32": RELOC_ABS32, "R_ARM_ABS32": RELOC_ABS32,
              "R_AARCH64_ABS64": RELOC_ABS64}


def _align(v, a):
    return (v + a - 1) & ~(a - 1)


def img_build(sections):
    """Serialise an image laid out as loader/image.c writes it. sections: list of
    dicts {target (name), align, code (bytes), syms [(name, offset, kind)],
    relocs [(offset, kind, symbol index or -1, addend)]}."""
    pos = 64 + 48 * len(sections)
    sect_off = 64
    layout = []
    for s in sections:
        code_off = _align(pos, 16)
        pos = code_off + len(s["code"])
        sym_off = _align(pos, 8)
        pos = sym_off + 16 * len(s.get("syms", ()))
        rel_off = _align(pos, 8)
        pos = rel_off + 24 * len(s.get("relocs", ()))
        layout.append((code_off, sym_off, rel_off))
    str_off = pos
    strings = bytearray()
    buf = bytearray(pos)
    for i, (s, (code_off, sym_off, rel_off)) in enumerate(zip(sections, layout)):
        e = sect_off + 48 * i
        syms, relocs = s.get("syms", ()), s.get("relocs", ())
        struct.pack_into("<IIIIIIIII", buf, e, TARGET_NUMBERS[s["target"]], s.get("align", 16),
                         0, code_off, len(s["code"]), sym_off, len(syms), rel_off, len(relocs))
        buf[code_off:code_off + len(s["code"])] = s["code"]
        for j, (name, off, kind) in enumerate(syms):
            struct.pack_into("<IIII", buf, sym_off + 16 * j, len(strings), off, kind, 0)
            strings += name.encode() + b"\0"
        for j, (off, kind, sym, addend) in enumerate(relocs):
            struct.pack_into("<IIiIq", buf, rel_off + 24 * j, off, kind, sym, 0, addend)
    buf += strings
    buf[0:8] = IMG_MAGIC
    struct.pack_into("<IIII", buf, 8, 1, 64, len(buf), 0)
    struct.pack_into("<IIIIII", buf, 24, 0, len(sections), sect_off, 48, str_off, len(strings))
    return img_fix_checksum(buf)


def fail_vectors(lines, failures, show):
    """Fail the test with the report lines, naming the forms of the failures past the
    first `show` (each failure's first item is a vector: (line, form, text, hex))."""
    import pytest

    if len(failures) > show:
        forms = sorted({f[0][1] for f in failures[show:]})
        lines.append("")
        lines.append("... and %d more, in forms: %s" % (len(failures) - show, " ".join(forms[:50])))
    pytest.fail("\n".join(lines), pytrace=False)
