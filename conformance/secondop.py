"""Second opinions on imago's encodings (stdlib only): decoders, normalisers and the
known differences, shared by conformance/test_disasm.py and the self-tests.

Two checks use this module (docs/second-opinions.md):

* disasm: imago's bytes of each vector, decoded by GNU objdump and by capstone
  (build/bin/imago-capdis, tools/capdis/capdis.c), must give back the vector's own
  text once both are normalised (`normalise`). A target is covered only when it
  has a normaliser (NORMALISERS); the others are reported as not covered.
* llvm-mc: each vector's text assembled by llvm-mc must give imago's bytes, or the
  difference must fall in one of the listed classes (LLVM_CLASSES), each with its
  reason.

A decoder's limitation (it cannot decode a valid encoding at all) is a listed
class too (DECODER_CLASSES), matched by the bytes and the decoder's output, never
by one vector.

Every rewriting rule of the normalisers is in this file, with a comment saying
why. The rules are generic (case, spacing, numbers, aliases, notation): none
names a vector.
"""

import os
import re
import shutil

import harness

# ---- tools -------------------------------------------------------------------------

CAPDIS = os.path.join(harness.BUILD, "bin", "imago-capdis")
LLVM_MC = "llvm-mc"
LLVM_TRIPLE = {"x86_64": "x86_64", "i386": "i386", "arm": "armv7-linux-gnueabihf",
               "aarch64": "aarch64-linux-gnu"}
# llvm-mc reads Intel syntax like GNU as after `.intel_syntax noprefix` (the
# sources start with that directive too; the option also sets the default).
LLVM_ARGS = {"x86_64": ["-x86-asm-syntax=intel"], "i386": ["-x86-asm-syntax=intel"],
             "arm": ["-mattr=+neon,+hwdiv-arm"], "aarch64": ["-mattr=+fullfp16"]}

# Address (and default operand) width of each target, for wrapping numbers.
BITS = {"x86_64": 64, "i386": 32, "arm": 32, "aarch64": 64}


def llvm_mc():
    """The llvm-mc binary: `llvm-mc`, else the newest `llvm-mc-N` on PATH, else None."""
    if shutil.which(LLVM_MC):
        return LLVM_MC
    for n in range(20, 10, -1):
        if shutil.which("llvm-mc-%d" % n):
            return "llvm-mc-%d" % n
    return None


# ---- decoding ------------------------------------------------------------------------

_OBJ_LABEL_RE = re.compile(r"^[0-9a-f]+ <__iv_(\d+)>:$")
_OBJ_INSN_RE = re.compile(r"^\s*([0-9a-f]+):\t(.*)$")


def byte_source(target, hexes):
    """Assembler source placing each byte string at marker __iv_N, as data the
    disassembler still treats as code (x86 .byte; ARM/AArch64 .inst keeps the
    code mapping symbols)."""
    out = [harness.TOOLS[target]["header"]]
    for i, h in enumerate(hexes):
        b = bytes.fromhex(h)
        if target in ("arm", "aarch64") and len(b) % 4 == 0 and b:
            words = ",".join("0x%08x" % int.from_bytes(b[k:k + 4], "little")
                             for k in range(0, len(b), 4))
            out.append("__iv_%d: .inst %s\n" % (i, words))
        elif b:
            out.append("__iv_%d: .byte %s\n" % (i, ",".join("0x%02x" % x for x in b)))
        else:
            out.append("__iv_%d:\n" % i)
    return "".join(out)


class ToolError(Exception):
    pass


def objdump_decode(target, hexes, tmpdir):
    """[(address, [(length, text), ...])] per byte string: GNU as places the strings
    in one object at markers __iv_N and one objdump run decodes them all (objdump
    starts afresh at every symbol, so one string cannot swallow the next)."""
    spec = harness.TOOLS[target]
    src, obj = os.path.join(tmpdir, "bytes.s"), os.path.join(tmpdir, "bytes.o")
    with open(src, "w") as f:
        f.write(byte_source(target, hexes))
    argv = spec["as"] + ["-o", obj, src]
    p = harness.run(argv)
    if p.returncode != 0:
        raise ToolError("`%s` exited %d:\n%s" % (harness.shjoin(argv), p.returncode,
                                                 p.stderr[-2000:]))
    argv = [spec["objdump"], "-d", "-z", "-w", "--no-show-raw-insn"] + spec["objdump_obj"] + [obj]
    p = harness.run(argv)
    if p.returncode != 0:
        raise ToolError("`%s` exited %d:\n%s" % (harness.shjoin(argv), p.returncode,
                                                 p.stderr[-2000:]))
    starts = {}
    insns = {}  # vector -> [(address, text)]
    cur = None
    for line in p.stdout.splitlines():
        m = _OBJ_LABEL_RE.match(line)
        if m:
            cur = int(m.group(1))
            starts[cur] = int(line.split()[0], 16)
            insns[cur] = []
            continue
        m = _OBJ_INSN_RE.match(line)
        if m and cur is not None:
            insns[cur].append((int(m.group(1), 16), m.group(2).strip()))
    out = []
    for i, h in enumerate(hexes):
        if i not in starts:
            if h:
                raise ToolError("objdump printed no marker __iv_%d (of %d)" % (i, len(hexes)))
            out.append((None, []))
            continue
        base = starts[i]
        stop = base + len(h) // 2
        seq = insns[i]
        dec = []
        for k, (a, text) in enumerate(seq):
            nxt = seq[k + 1][0] if k + 1 < len(seq) else stop
            dec.append((nxt - a, text))
        out.append((base, dec))
    return out


def capstone_decode(target, hexes):
    """[(0, [(length, text), ...])] per byte string: one imago-capdis run decodes
    them all, each at address 0."""
    argv = [CAPDIS, "-a", target]
    p = harness.run(argv, input="".join(h + "\n" for h in hexes))
    if p.returncode != 0:
        raise ToolError("`%s` exited %d:\n%s" % (harness.shjoin(argv), p.returncode,
                                                 p.stderr[-2000:]))
    lines = p.stdout.split("\n")
    if len(lines) != len(hexes) + 1 or lines[-1] != "":
        raise ToolError("`%s` printed %d lines for %d byte strings" % (
            harness.shjoin(argv), len(lines) - 1, len(hexes)))
    out = []
    for line in lines[:-1]:
        f = line.split("\t") if line else []
        out.append((0, [(int(f[k]), f[k + 1]) for k in range(0, len(f) - 1, 2)]))
    return out


# ---- x86 normaliser ---------------------------------------------------------------------

_X86_REG = {}
for _w, _names in ((8, "al cl dl bl ah ch dh bh spl bpl sil dil"),
                   (16, "ax cx dx bx sp bp si di"),
                   (32, "eax ecx edx ebx esp ebp esi edi eip"),
                   (64, "rax rcx rdx rbx rsp rbp rsi rdi rip")):
    for _r in _names.split():
        _X86_REG[_r] = _w
for _n in range(8, 16):
    _X86_REG["r%db" % _n] = 8
    _X86_REG["r%dw" % _n] = 16
    _X86_REG["r%dd" % _n] = 32
    _X86_REG["r%d" % _n] = 64
for _n in range(32):
    _X86_REG["xmm%d" % _n] = 128
    _X86_REG["ymm%d" % _n] = 256
_X86_SIZE = {"byte": 8, "word": 16, "dword": 32, "qword": 64, "xmmword": 128, "ymmword": 256,
             "tbyte": 80, "fword": 48, "oword": 128}
# objdump names cmpxchg16b's m128 `oword`, GNU as reads `xmmword` too.
_X86_SIZE_ALIAS = {"oword": "xmmword"}
# Immediates that are fields of their own width, not operands sign-extended to the
# operand size: shift and rotate counts, bit offsets, shuffle and select controls,
# ret's and enter's sizes. GNU as reads a negative value as its two's complement
# in the field; the decoders print the field unsigned (-0x28 is 0xd8).
_X86_IMM8_FIELD_RE = re.compile(
    r"^(rol|ror|rcl|rcr|shl|sal|shr|sar|bt|bts|btr|btc|shld|shrd|rorx|sarx|shlx|shrx|"
    r"v?pshuf[dhlw]+|v?shufp[sd]|v?palignr|v?pextr[bwdq]|v?pinsr[bwdq]|v?insertps|"
    r"v?extractps|v?round[sp][sd]|v?dpp[sd]|v?mpsadbw|v?pblendw|v?blendp[sd]|"
    r"v?pclmulqdq|v?ps[rl]l[dqw]|v?psra[dw]|v?ps[rl]ldq|v?cmp[sp][sd]|int|in|out)$")
_X86_SUFFIX = {8: "b", 16: "w", 32: "d", 64: "q"}

# Condition-code spellings: GNU as and the decoders print different ones of the
# same encoding (je/jz, jb/jc/jnae, ...). Each maps to the spelling objdump uses.
_CC = {"z": "e", "nz": "ne", "c": "b", "nae": "b", "nc": "ae", "nb": "ae", "na": "be",
       "nbe": "a", "pe": "p", "po": "np", "nge": "l", "nl": "ge", "ng": "le", "nle": "g"}
_CC_RE = re.compile(r"^(j|set|cmov)(%s)$" % "|".join(sorted(_CC, key=len, reverse=True)))
# Other mnemonic spellings of one encoding.
_X86_ALIAS = {
    # GNU as spells `mov r64, imm64` movabs when asked and prints it so; capstone and
    # objdump print movabs for B8+r io whatever was written: the same instruction.
    "movabs": "mov",
    # sal is GNU as's other name of shl (it assembles both to /4).
    "sal": "shl",
}
# Prefix spellings: repz/repnz are repe/repne.
_X86_PREFIX_ALIAS = {"repz": "repe", "repnz": "repne"}
_X86_PREFIXES = ("rep", "repe", "repne", "repz", "repnz", "lock")
# SSE/AVX compare predicates: objdump and capstone print `cmpsd xmm0, xmm1, 1` as
# `cmpltsd xmm0, xmm1`; GNU as reads both. The pseudo-op becomes the explicit
# immediate (SSE: 8 predicates; VEX: 32).
_CMP_PRED = ("eq lt le unord neq nlt nle ord eq_uq nge ngt false neq_oq ge gt true eq_os lt_oq "
             "le_oq unord_s neq_us nlt_uq nle_uq ord_s eq_us nge_uq ngt_uq false_os neq_os "
             "ge_oq gt_oq true_us").split()
_CMP_PRED_RE = re.compile(r"^(v?)cmp(%s)(ss|sd|ps|pd)$" % "|".join(
    sorted(_CMP_PRED, key=len, reverse=True)))
# pushf/popf at the default operand size: GNU as writes pushfq (64-bit) and pushfd
# (32-bit), objdump pushf.
_X86_DEFAULT_SIZE_ALIAS = {64: {"pushfq": "pushf", "popfq": "popf"},
                           32: {"pushfd": "pushf", "popfd": "popf"}}
_X86_BRANCH_RE = re.compile(r"^(j[a-z]+|call|loop[a-z]*|xbegin)$")
_X86_STRING_RE = re.compile(r"^(movs|cmps|stos|lods|scas|ins|outs)([bwdq]?)$")
_NUM_RE = re.compile(r"^[-+]?(0x[0-9a-f]+|[0-9]+)$")
_X86_COMMENT_RE = re.compile(r"\s*#.*$")
_SYMREF_RE = re.compile(r"\s*<[^>]*>")
_X86_PUNCT_RE = re.compile(r"\s*([,\[\]+*:-])\s*")


def _num(tok):
    return int(tok, 0) if not tok.startswith("-") else -int(tok[1:], 0)


def _hex(v):
    return ("-0x%x" % -v) if v < 0 else ("0x%x" % v)


def _signed(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _x86_mem(inner, abits):
    """Canonical memory reference: terms in the order written, scale 1 dropped, the
    displacement as one signed number wrapped to the address width (decoders print
    [rax+0xfffffffffffffff0] or [rax-0x10], [rbp+0x0] or [rbp]), zero dropped."""
    terms = re.findall(r"[+-]?[^+-]+", inner)
    regs, disp = [], 0
    for t in terms:
        sign = -1 if t.startswith("-") else 1
        t = t.lstrip("+-")
        if _NUM_RE.match(t):
            disp += sign * _num(t)
            continue
        m = re.match(r"^([a-z0-9]+)\*(\d+)$", t)
        if m:
            # An index with scale 1: objdump writes *1, capstone and GNU as omit it.
            regs.append(m.group(1) if m.group(2) == "1" else t)
        else:
            regs.append(t)
    # With a 32-bit base or index in 64-bit code, addresses wrap at 32 bits.
    if any(_X86_REG.get(r.split("*")[0]) == 32 for r in regs):
        abits = 32
    disp = _signed(disp, abits)
    parts = "+".join(regs)
    if disp and parts:
        parts += _hex(disp) if disp < 0 else "+" + _hex(disp)
    elif not parts:
        parts = _hex(disp)
    return "[" + parts + "]"


def normalise_x86(text, target, addr=None):
    """The canonical form of one x86 instruction in Intel syntax, as GNU as reads it
    or as objdump -M intel / capstone print it. `addr` is the address the decoder
    placed the instruction at (None for the vector's own text, whose branch
    targets are written relative to `.`)."""
    return _x86_rules(_x86_lex(text), target, addr)


def _x86_lex(text):
    """The first steps of normalise_x86 (case, annotations, spacing): (prefixes,
    mnemonic, operands text). The rest of the normaliser is a function of this, the
    target and the address (agree() compares it first)."""
    s = text.strip().lower()  # case: objdump prints DWORD PTR, capstone dword ptr
    # objdump's trailing comment (`# 0x1234`, the address of a rip-relative operand)
    # and a branch target's symbol (`<__iv_3+0x2>`) are annotations, not operands.
    s = _X86_COMMENT_RE.sub("", s)
    s = _SYMREF_RE.sub("", s)
    # Spacing: objdump pads the mnemonic with spaces and writes `a,b`; capstone and
    # GNU as write `a, b` and `[rax + rbx*2]`.
    s = " ".join(s.split())
    words = s.split(" ", 1)
    prefixes = []
    while words and words[0] in _X86_PREFIXES and len(words) > 1:
        prefixes.append(_X86_PREFIX_ALIAS.get(words[0], words[0]))
        words = words[1].split(" ", 1)
    mnem = words[0] if words else ""
    rest = _X86_PUNCT_RE.sub(r"\1", words[1]) if len(words) > 1 else ""
    return tuple(prefixes), mnem, rest


def _x86_rules(lexed, target, addr):
    """normalise_x86 after _x86_lex."""
    bits = BITS[target]
    prefixes, mnem, rest = lexed
    prefixes = list(prefixes)
    # Intel-syntax operands hold no comma inside brackets.
    ops = rest.split(",") if rest else []
    mnem = _X86_ALIAS.get(mnem, mnem)
    mnem = _X86_DEFAULT_SIZE_ALIAS[bits].get(mnem, mnem)
    m = _CC_RE.match(mnem)
    if m:
        mnem = m.group(1) + _CC[m.group(2)]
    m = _CMP_PRED_RE.match(mnem)
    if m and (m.group(1) or _CMP_PRED.index(m.group(2)) < 8):
        mnem = m.group(1) + "cmp" + m.group(3)
        ops = ops + ["0x%x" % _CMP_PRED.index(m.group(2))]
    # xchg is symmetric: both operand orders are one encoding, and objdump prints
    # the short accumulator form (90+r) with the operands the other way round.
    if mnem == "xchg" and len(ops) == 2:
        ops = sorted(ops)
    # xlat's only operand is implicit: objdump prints `xlat ds:[rbx]`, GNU as reads
    # xlatb.
    if mnem == "xlat" and len(ops) == 1 and re.match(r"^(byte ptr ?)?(ds:)?\[[er]?bx\]$", ops[0]):
        mnem, ops = "xlatb", []

    # movsx from a 32-bit source is GNU as's other name of movsxd (63 /r), which the
    # decoders print.
    if mnem == "movsx" and len(ops) == 2 and (ops[1].startswith("dword ptr")
                                             or _X86_REG.get(ops[1]) == 32):
        mnem = "movsxd"
    # xchg of the accumulator with itself at the default size is the one-byte nop
    # 90 (GNU as encodes it so; the decoders print nop).
    if mnem == "xchg" and ops in (["rax", "rax"], ["eax", "eax"]) and _X86_REG[ops[0]] == bits:
        mnem, ops = "nop", []

    # Operand size: the first register or size keyword (immediates are sign- or
    # zero-extended to it, and the decoders print them either way).
    width = None
    for op in ops:
        w = op.split(" ", 1)[0]
        if w in _X86_SIZE:
            width = _X86_SIZE[w]
            break
        if op in _X86_REG:
            width = _X86_REG[op]
            break
    width = width if width and width <= 64 else bits

    # String instructions: objdump prints the implicit operands (`stos DWORD PTR
    # es:[rdi],eax`), capstone the suffixed mnemonic and the operands (`stosd dword
    # ptr [rdi], eax`), GNU as reads the bare suffixed form: keep the suffix only.
    m = _X86_STRING_RE.match(mnem)
    if m and ops and all(re.search(r"\[[er]?(si|di)\]$", o) or o in ("al", "ax", "eax", "rax",
                                                                      "dx") for o in ops):
        size = None
        for o in ops:
            w = o.split(" ", 1)[0]
            if w in _X86_SIZE:
                size = _X86_SIZE[w]
        mnem = m.group(1) + (_X86_SUFFIX.get(size, "") if size else m.group(2))
        ops = []

    field = 8 if _X86_IMM8_FIELD_RE.match(mnem) else None
    if mnem in ("ret", "retf", "retn", "enter"):
        field = 16
    out = []
    for k, op in enumerate(ops):
        size = ""
        w = op.split(" ", 1)
        if len(w) == 2 and w[0] in _X86_SIZE and w[1].startswith("ptr"):
            size, op = _X86_SIZE_ALIAS.get(w[0], w[0]) + " ptr ", w[1][3:].strip()
        # objdump writes an absolute address as `ds:0x10`; GNU as reads it as a memory
        # operand like `[0x10]`: the same operand.
        m2 = re.match(r"^ds:([-+]?(?:0x[0-9a-f]+|[0-9]+))$", op)
        if m2:
            op = "[" + m2.group(1) + "]"
        if op.startswith(".") and _NUM_RE.match(op[1:] or "x"):
            # A branch target relative to the instruction's start (the vectors' `.+N`).
            out.append(size + "." + _hex(_signed(_num(op[1:]), bits)))
        elif (addr is not None and _X86_BRANCH_RE.match(mnem)
              and re.match(r"^(0x)?[0-9a-f]+$", op)):
            # A decoder's absolute branch target (objdump writes it in hex without
            # 0x, capstone with 0x): relative to where the decoder placed the
            # instruction, wrapped to the address width.
            out.append(size + "." + _hex(_signed(int(op, 16) - addr, bits)))
        elif _NUM_RE.match(op):
            # An immediate: the decoders print a sign-extended value signed or
            # unsigned (0xffffffc9, -0x37): compare it modulo the operand size, or
            # modulo its field (above; enter's second operand is 8 bits).
            f = 8 if mnem == "enter" and k == 1 else field
            out.append(size + _hex(_num(op) & ((1 << (f or width)) - 1)))
        else:
            m3 = re.match(r"^([a-z]+:)?\[(.*)\]$", op)
            if m3:
                out.append(size + (m3.group(1) or "") + _x86_mem(m3.group(2), bits))
            else:
                out.append(size + op)
    return " ".join(prefixes + [mnem]) + (" " + ",".join(out) if out else "")


def drop_unmatched_sizes(a, b):
    """Size keywords one side omits are not compared: decoders leave out the size
    of a memory operand whose size is implied (lea, an operand of a fixed size),
    GNU as accepts it written or not."""
    sa = re.findall(r"\b[a-z]+ ptr ", a)
    sb = re.findall(r"\b[a-z]+ ptr ", b)
    if sa == sb or (sa and sb):
        return a, b  # both sides name sizes: they must agree
    strip = lambda s: re.sub(r"\b[a-z]+ ptr ", "", s)  # noqa: E731
    return strip(a), strip(b)


# ---- ARM (A32) and AArch64 normaliser ---------------------------------------------------

# A32 register names: capstone writes sb, sl, fp, ip for r9-r12 and objdump fp for
# r11; GNU as reads either; sp, lr, pc are r13-r15.
_A32_REG_ALIAS = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12", "r13": "sp", "r14": "lr",
                  "r15": "pc"}
_ARM_COND = "eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al"
# Condition spellings: hs is cs and lo is cc (capstone prints hs/lo, objdump cs/cc).
_ARM_COND_ALIAS = {"hs": "cs", "lo": "cc"}
_A32_BRANCH_RE = re.compile(r"^(?:b|bl|blx)(?:%s)?$" % _ARM_COND)
_A64_BRANCH_RE = re.compile(r"^(?:b|bl|b\.(?:%s|nv)|cbn?z|tbn?z|adrp?)$" % _ARM_COND)
_A64_LITERAL_RE = re.compile(r"^(?:ldr|ldrsw|prfm)$")
# AArch64 FP scalar: an FP constant (digits with a point or an exponent).
_A64_FP_RE = re.compile(r"#([-+]?[0-9]+(?:\.[0-9]*(?:e[-+]?[0-9]+)?|e[-+]?[0-9]+))(?![0-9a-z.])")
_ARM_NUM_RE = re.compile(r"#([-+]?)(0x[0-9a-f]+|[0-9]+)\b")


# ---- A32 vfp ----
_A32_VFP_IMM_RE = re.compile(r"^vmov(?:%s)?\.f(?:32|64)$" % _ARM_COND)
_A32_VFP_CMPZ_RE = re.compile(r"^vcmpe?(?:%s)?\.f(?:32|64)$" % _ARM_COND)
_A32_VFP_MOV_RE = re.compile(r"^vmov(%s)?(\.f32|\.f64)?$" % _ARM_COND)
_A32_VFP_CORE_RE = re.compile(r"^(?:r\d+|sp|lr|pc)$")


def _a32_vfp_expand(imm8):
    """VFPExpandImm: the value of a VFP constant's 8-bit field a:b:cd:efgh,
    (-1)^a * (1 + efgh/16) * 2^E, E = cd - 3 when b is set, else cd + 1."""
    b, cd = (imm8 >> 6) & 1, (imm8 >> 4) & 3
    e = cd - 3 if b else cd + 1
    return (-1.0 if imm8 & 0x80 else 1.0) * (1 + (imm8 & 15) / 16.0) * 2.0 ** e


def _a32_vfp_lex(mnem, rest):
    """A32 VFP notation before the integer rule: a vmov.f32/.f64 constant is one value
    however written (imago #1.0, capstone #1.000000e+00, objdump #112, the 8-bit field,
    with the value in its comment): compared as the value, marked #f. vcmp's zero: imago
    and capstone #0, objdump #0.0."""
    if _A32_VFP_IMM_RE.match(mnem):
        m = re.match(r"^([sd]\d+),#(.*)$", rest)
        if m:
            v = m.group(2)
            val = _a32_vfp_expand(int(v)) if re.fullmatch(r"\d+", v) else float(v)
            return m.group(1) + ",#f" + repr(val)
    if _A32_VFP_CMPZ_RE.match(mnem):
        rest = re.sub(r",#0\.0+$", ",#0", rest)
    return rest


def _a32_vfp_list(op):
    """{d16, d17, d18} (capstone) is {d16-d18} (imago, objdump)."""
    regs = re.findall(r"([sd])(\d+)", op)
    if not re.fullmatch(r"\{[sd]\d+(?:(?:,|-)[sd]\d+)*\}", op) or len({r[0] for r in regs}) != 1:
        return op
    nums = [int(r[1]) for r in regs]
    if "-" in op:
        if len(nums) != 2:
            return op
        nums = list(range(nums[0], nums[1] + 1))
    if nums != list(range(nums[0], nums[0] + len(nums))):
        return op
    c = regs[0][0]
    return "{%s%d}" % (c, nums[0]) if len(nums) == 1 else "{%s%d-%s%d}" % (c, nums[0], c, nums[-1])


def _a32_vfp_rules(mnem, out):
    # capstone's hs/lo before a type suffix (vaddhs.f32) are cs/cc
    m = re.match(r"^(v[a-z]+?)(hs|lo)(\..*)$", mnem)
    if m:
        mnem = m.group(1) + _ARM_COND_ALIAS[m.group(2)] + m.group(3)
    out = [_a32_vfp_list(op) if op.startswith("{") else op for op in out]
    # vmov between core and s registers with a .f32 suffix (GNU as reads it; capstone
    # prints vmov s0, r1 without) is vmov; vmov of two s registers is vmov.f32.
    m = _A32_VFP_MOV_RE.match(mnem)
    if m:
        core = any(_A32_VFP_CORE_RE.match(op) for op in out)
        if m.group(2) and core:
            mnem = "vmov" + (m.group(1) or "")
        elif not m.group(2) and len(out) == 2 and all(re.fullmatch(r"s\d+", op) for op in out):
            mnem = "vmov" + (m.group(1) or "") + ".f32"
    # VPUSH/VPOP are the preferred names of VSTMDB/VLDMIA on sp with writeback.
    m = re.match(r"^(vstmdb|vldmia)(%s)?$" % _ARM_COND, mnem)
    if m and len(out) == 2 and out[0] == "sp!":
        mnem = ("vpush" if m.group(1) == "vstmdb" else "vpop") + (m.group(2) or "")
        out = out[1:]
    return mnem, out
# ---- A32 vfp (end) ----


# ---- AArch64 loads/stores, branches, system: normaliser rules (begin) -------------------

# The unscaled mnemonic of each scaled load/store (and prfm), and the transfer size of
# those whose size the mnemonic tells.
_A64_UNSCALED = {"ldr": "ldur", "str": "stur", "ldrb": "ldurb", "strb": "sturb",
                 "ldrh": "ldurh", "strh": "sturh", "ldrsb": "ldursb", "ldrsh": "ldursh",
                 "ldrsw": "ldursw", "prfm": "prfum"}
_A64_MNEM_SIZE = {"ldrb": 1, "strb": 1, "ldrsb": 1, "ldrh": 2, "strh": 2, "ldrsh": 2,
                  "ldrsw": 4, "prfm": 8}
_A64_REG_SIZE = {"w": 4, "x": 8, "b": 1, "h": 2, "s": 4, "d": 8, "q": 16}


def _a64_mem_normalise(mnem, out):
    """AArch64 rules of the load/store, branch and system forms (see the table in
    docs/second-opinions.md): returns (mnem, out)."""
    # `ldr x0, [x1, #4]` and `ldr x0, [x1, #-8]`: an offset the scaled form cannot
    # hold (negative or not a multiple of the size) is the unscaled form, which GNU as
    # assembles and the decoders print as ldur (prfm: prfum).
    if mnem in _A64_UNSCALED and len(out) == 2:
        m = re.match(r"^\[([a-z0-9]+),#(-?0x[0-9a-f]+)\]$", out[1])
        size = _A64_MNEM_SIZE.get(mnem) or _A64_REG_SIZE.get(out[0][:1])
        if m and size:
            off = _num(m.group(2))
            if off < 0 or off % size:
                mnem = _A64_UNSCALED[mnem]
    # A post-index offset is a signed 9- or 7-bit value: capstone prints a negative
    # one as its 64-bit two's complement (`[x4], #0xffffffffffffffff`).
    for i in range(1, len(out)):
        if out[i - 1].endswith("]") and re.match(r"^#0x[0-9a-f]+$", out[i]):
            out[i] = "#" + _hex(_signed(_num(out[i][1:]), 64))
    # tbz/tbnz of an x register test bits 32..63; a lower bit is the w register's test
    # (b5 = 0), which objdump prints with the w register.
    if (mnem in ("tbz", "tbnz") and len(out) == 3 and out[0][:1] == "x"
            and _num(out[1].lstrip("#")) < 32):
        out[0] = "w" + out[0][1:]
    # DSB #0 and #4 are the speculation barriers SSBB and PSSBB (objdump's names).
    if mnem in ("ssbb", "pssbb") and not out:
        mnem, out = "dsb", ["#0x0" if mnem == "ssbb" else "#0x4"]
    return mnem, out


def _llvm_a64_prfm_unscaled(target, text, hexstr, llvm_hex, err):
    # `prfm op, [xn, #imm]` with an offset the scaled form cannot hold: GNU as
    # assembles prfum (as it does ldr -> ldur); llvm-mc 14 rejects the text.
    return (target == "aarch64" and llvm_hex is None and err is not None
            and "index must be a multiple of 8 in range [0, 32760]" in err
            and re.match(r"^prfm\s", text.strip().lower()) is not None)

# ---- AArch64 loads/stores, branches, system: normaliser rules (end) ---------------------


def _split_arm_operands(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


# ---- A32 mem ----
# Loads and stores (encoders/a32/mem.tbl): the notation GNU as reads and the decoders print.
# The names of LDM/STM: the UAL name of each mode (ldm = ia; stm = ia), which objdump,
# capstone and llvm print (objdump: stmia with writeback), and the other names GNU as
# reads (ldmia, the stack names: full/empty, descending/ascending).
_A32_LSM_ALIAS = {"ldmia": "ldm", "ldmfd": "ldm", "ldmed": "ldmib", "ldmfa": "ldmda",
                  "ldmea": "ldmdb", "stmia": "stm", "stmea": "stm", "stmfa": "stmib",
                  "stmed": "stmda", "stmfd": "stmdb"}
_A32_LSM_RE = re.compile(r"^(ldm|stm)(ia|ib|da|db|fd|ed|fa|ea)?(%s)?$" % _ARM_COND)
# the user-mode (unprivileged) forms: post-index only
_A32_USER_RE = re.compile(r"^(?:ldr|str)(?:s?b|s?h)?t(?:%s)?$" % _ARM_COND)
# the forms of a register pair (Rt, Rt+1), and where the pair starts
_A32_PAIR_RE = re.compile(r"^(ldrd|strd|ldrexd|strexd)(?:%s)?$" % _ARM_COND)
_A32_REG_RE = re.compile(r"^(r\d+|sp|lr|pc)$")


def _a32_mem_normalise(mnem, out):
    """A32 rules of the load/store forms: returns (mnem, out)."""
    m = _A32_LSM_RE.match(mnem)
    if m:
        base = m.group(1) + (m.group(2) or "")
        mnem = _A32_LSM_ALIAS.get(base, base) + (m.group(3) or "")
    # pre-index with no offset: [rn]! is [rn, #0]! (objdump and capstone print #0)
    out = [re.sub(r"^\[([a-z0-9]+)\]!$", r"[\1,#0x0]!", op) for op in out]
    # ldrt and the other user-mode forms: [rn] alone is post-index #0
    if _A32_USER_RE.match(mnem) and len(out) == 2 and re.match(r"^\[[a-z0-9]+\]$", out[1]):
        out = out + ["#0x0"]
    # ldrd/strd/ldrexd/strexd: GNU as reads the pair with its second register left out,
    # objdump prints only the first
    m = _A32_PAIR_RE.match(mnem)
    if m:
        at = 2 if m.group(1) == "strexd" else 1
        if len(out) > at + 1 and _A32_REG_RE.match(out[at]) and _A32_REG_RE.match(out[at - 1]):
            out = out[:at] + out[at + 1:]
    return mnem, out
# ---- A32 mem (end) ----


# ---- AArch64 Advanced SIMD (normalise_arm) ----
_A64_RANGE_RE = re.compile(r"^\{v(\d+)\.(\w+)-v(\d+)\.(\w+)\}$")
_A64_ELEM_RE = re.compile(r"^v\d+\.[bhsd]\[(\d+|0x[0-9a-f]+)\]$")


def _a64_simd(mnem, out):
    """AArch64 Advanced SIMD spellings of one encoding. A register list written as a
    range `{v0.4s-v2.4s}` (objdump prints lists of 3 and 4 that way) is the list
    `{v0.4s,v1.4s,v2.4s}`; an element index is decimal (capstone prints `v1.b[0xd]`);
    the ARM ARM's preferred names, which GNU as reads as well as the instruction's own:
    ins (element or general) is mov, not is mvn, scalar dup of an element is mov, umov
    to w from an s element or to x from a d element is mov, orr of one register twice
    (8b/16b) is mov."""
    res = []
    for op in out:
        m = _A64_RANGE_RE.match(op)
        if m and m.group(2) == m.group(4) and int(m.group(3)) >= int(m.group(1)):
            op = "{%s}" % ",".join("v%d.%s" % (r, m.group(2))
                                   for r in range(int(m.group(1)), int(m.group(3)) + 1))
        m = _A64_ELEM_RE.match(op)
        if m:
            op = op[:op.index("[")] + "[%d]" % _num(m.group(1))
        res.append(op)
    out = res
    elem = [bool(_A64_ELEM_RE.match(o)) for o in out]
    if len(out) == 2 and elem[0] and mnem == "ins":
        mnem = "mov"
    elif len(out) == 2 and mnem == "not" and re.match(r"^v\d+\.(8b|16b)$", out[0]):
        mnem = "mvn"
    elif len(out) == 2 and mnem == "dup" and re.match(r"^[bhsd]\d+$", out[0]) and elem[1]:
        mnem = "mov"
    elif len(out) == 2 and mnem == "umov" and (
            re.match(r"^w(\d+|zr)$", out[0]) and re.match(r"^v\d+\.s\[", out[1])
            or re.match(r"^x(\d+|zr)$", out[0]) and re.match(r"^v\d+\.d\[", out[1])):
        mnem = "mov"
    elif (len(out) == 3 and mnem == "orr" and out[1] == out[2]
          and re.match(r"^v\d+\.(8b|16b)$", out[1])):
        mnem, out = "mov", out[:2]
    return mnem, out


# ---- AArch64 data processing: aliases to their base instruction -------------------------
# (one block: the data-processing area's rules.) The A64 aliases (ARM ARM, "alias
# conditions") are other names for one encoding; GNU as reads both the alias and the base
# text, objdump and capstone print the preferred one, and not always the same one (capstone
# prints hs/lo, orr for some mov, movn for others). Both sides are rewritten to the base
# instruction with every implicit operand written out, so a text and a decoding agree
# exactly when they name the same instruction.

_A64_INV_COND = {"eq": "ne", "ne": "eq", "cs": "cc", "cc": "cs", "mi": "pl", "pl": "mi",
                 "vs": "vc", "vc": "vs", "hi": "ls", "ls": "hi", "ge": "lt", "lt": "ge",
                 "gt": "le", "le": "gt"}
_A64_EXT_RE = re.compile(r"^(uxt[bhwx]|sxt[bhwx]|lsl)(?: #(0x[0-9a-f]+))?$")


def _a64_imm(op):
    return _num(op[1:]) if op.startswith("#") else None


def _a64_base(mnem, out):
    """(mnem, operands) of the base instruction of an A64 data-processing alias."""
    if not out or not re.match(r"^(w|x)(\d+|zr|sp)$|^sp$|^wsp$", out[0]):
        return mnem, out
    # operands: capstone prints the conditions hs/lo, objdump cs/cc
    out = [_ARM_COND_ALIAS.get(o, o) for o in out]
    w = out[0].startswith("w")
    rbits = 32 if w else 64
    zr = "wzr" if w else "xzr"
    wide = lambda r: "x" + r[1:] if r.startswith("w") and r != "wsp" else r  # noqa: E731
    narrow = lambda r: "w" + r[1:] if r.startswith("x") else r  # noqa: E731
    imm = _a64_imm(out[-1])
    n = len(out)
    if mnem in ("cmp", "cmn", "tst") and n >= 2:
        mnem, out = {"cmp": "subs", "cmn": "adds", "tst": "ands"}[mnem], [zr] + out
    elif mnem == "mvn" and n >= 2:
        mnem, out = "orn", [out[0], zr] + out[1:]
    elif mnem == "mov" and n == 2 and re.match(r"^(w|x)(\d+|zr)$", out[1]) and \
            "sp" not in out[0]:  # mov between general registers is orr from zr
        mnem, out = "orr", [out[0], zr, out[1]]
    elif mnem in ("ngc", "ngcs") and n == 2:
        mnem, out = "sbc" + mnem[3:], [out[0], zr, out[1]]
    elif mnem in ("mul", "mneg") and n == 3:
        mnem, out = "madd" if mnem == "mul" else "msub", out + [zr]
    elif mnem in ("smull", "umull", "smnegl", "umnegl") and n == 3:
        mnem, out = mnem[:2] + ("addl" if mnem.endswith("ull") else "subl"), out + ["xzr"]
    elif mnem in ("cset", "csetm") and n == 2 and out[1] in _A64_INV_COND:
        mnem = "csinc" if mnem == "cset" else "csinv"
        out = [out[0], zr, zr, _A64_INV_COND[out[1]]]
    elif mnem in ("cinc", "cinv", "cneg") and n == 3 and out[2] in _A64_INV_COND:
        mnem = {"cinc": "csinc", "cinv": "csinv", "cneg": "csneg"}[mnem]
        out = [out[0], out[1], out[1], _A64_INV_COND[out[2]]]
    elif mnem in ("lsl", "lsr", "asr", "ror") and n == 3 and imm is None:
        mnem += "v"
    elif mnem in ("lsl", "lsr", "asr") and n == 3:
        if mnem == "lsl":
            out = out[:2] + ["#" + _hex(-imm % rbits), "#" + _hex(rbits - 1 - imm)]
        else:
            out = out[:2] + ["#" + _hex(imm), "#" + _hex(rbits - 1)]
        mnem = "sbfm" if mnem == "asr" else "ubfm"
    elif mnem == "ror" and n == 3:
        mnem, out = "extr", [out[0], out[1], out[1], out[2]]
    elif mnem in ("sxtb", "sxth", "sxtw", "uxtb", "uxth") and n == 2:
        top = {"b": 7, "h": 15, "w": 31}[mnem[-1]]
        if mnem[0] == "u":  # 32-bit only: GNU as reads an x destination as the w one
            out = [narrow(out[0]), narrow(out[1])]
        else:
            out = [out[0], wide(out[1]) if not w else out[1]]
        mnem, out = ("sbfm" if mnem[0] == "s" else "ubfm"), out + ["#0x0", "#" + _hex(top)]
    elif mnem in ("sbfx", "ubfx", "bfxil", "sbfiz", "ubfiz", "bfi") and n == 4:
        lsb, width = _a64_imm(out[2]), _a64_imm(out[3])
        if lsb is not None and width is not None:
            base = {"s": "sbfm", "u": "ubfm", "b": "bfm"}[mnem[0]]
            if mnem.endswith("x") or mnem == "bfxil":
                out = out[:2] + ["#" + _hex(lsb), "#" + _hex(lsb + width - 1)]
            else:
                out = out[:2] + ["#" + _hex(-lsb % rbits), "#" + _hex(width - 1)]
            mnem = base
    elif mnem == "bfc" and n == 3:  # objdump's name (ARMv8.2) of bfm from zr
        lsb, width = _a64_imm(out[1]), _a64_imm(out[2])
        if lsb is not None and width is not None:
            mnem, out = "bfm", [out[0], zr, "#" + _hex(-lsb % rbits), "#" + _hex(width - 1)]
    elif mnem == "movn" and n == 2 and imm is not None:
        mnem, out = "mov", [out[0], "#" + _hex(~imm & ((1 << rbits) - 1))]
    elif mnem == "orr" and n == 3 and out[1] == zr and imm is not None:
        mnem, out = "mov", [out[0], "#" + _hex(imm & ((1 << rbits) - 1))]
    if mnem in ("add", "sub", "adds", "subs") and len(out) == 3:
        v = _a64_imm(out[2])
        if v is not None and v < 0:  # GNU as reads add #-n as sub #n and back
            mnem = {"add": "sub", "sub": "add", "adds": "subs", "subs": "adds"}[mnem]
            out = out[:2] + ["#" + _hex(-v)]
    if mnem in ("add", "sub", "adds", "subs") and len(out) in (3, 4) and \
            _a64_imm(out[2]) is None:
        # extended register: an extend named, or sp as Rd/Rn (then no extend or lsl is
        # uxtx / uxtw); Rm's width is the extend's (GNU as takes either), #0 left out
        m = _A64_EXT_RE.match(out[3]) if len(out) == 4 else None
        sp = bool({"sp", "wsp"} & set(out[:2]))
        if (m and m.group(1) != "lsl") or (sp and (len(out) == 3 or m)):
            ext = m.group(1) if m else "lsl"
            amt = _num(m.group(2)) if m and m.group(2) else 0
            if ext == "lsl":
                ext = "uxtx" if not w and out[2].startswith("x") else "uxtw"
            rm = wide(out[2]) if not w and ext[-1] == "x" else narrow(out[2])
            out = out[:2] + [rm, ext + (" #" + _hex(amt) if amt else "")]
    return mnem, out


# ---- A32 dp ----
# A32 data processing (encoders/a32/dp.tbl, docs/a32-dp.md): GNU as's substitutions and
# the shift instructions, each read as the instruction the bytes hold, which objdump and
# capstone print.
_A32_DP_RE = re.compile(r"^(and|eor|sub|rsb|add|adc|sbc|rsc|tst|teq|cmp|cmn|orr|mov|bic|mvn"
                        r"|lsl|lsr|asr|ror|rrx)(s?)(%s)?$" % _ARM_COND)
# The partner GNU as takes when a value has no encoding: by its inverse or its negation.
_A32_DP_INV = {"mov": "mvn", "mvn": "mov", "and": "bic", "bic": "and", "adc": "sbc",
               "sbc": "adc"}
_A32_DP_NEG = {"add": "sub", "sub": "add", "cmp": "cmn", "cmn": "cmp"}


def _a32_modimm(v):
    """True when v (32 bits) is an 8-bit value rotated right by an even amount."""
    v &= 0xffffffff
    return any(((v << r | v >> (32 - r)) & 0xffffffff) <= 0xff for r in range(0, 32, 2))


def _a32_dp(mnem, out):
    m = _A32_DP_RE.match(mnem)
    if not m:
        return mnem, out
    base, s, cond = m.group(1), m.group(2), m.group(3) or ""
    # A shift operand: asl is lsl; lsl #0 (and lsr/asr/ror #0, which GNU as reads so) is
    # no shift.
    out = [re.sub(r"^asl\b", "lsl", o) for o in out]
    out = [o for o in out if not re.match(r"^(lsl|lsr|asr|ror) ?#0x0$", o)]
    # MOV with a shift is the shift instruction (objdump and capstone print lsl r0, r1, #2
    # for mov r0, r1, lsl #2; rrx r0, r1 for mov r0, r1, rrx); a shift by #0 is mov.
    if base == "mov" and len(out) == 3:
        sh = re.match(r"^(lsl|lsr|asr|ror) ?(#0x[0-9a-f]+|\w+)$", out[2])
        if out[2] == "rrx":
            base, out = "rrx", out[:2]
        elif sh:
            base, out = sh.group(1), out[:2] + [sh.group(2)]
    if base in ("lsl", "lsr", "asr", "ror") and len(out) == 3 and out[2] == "#0x0":
        base, out = "mov", out[:2]
    # An immediate with no encoding is GNU as's partner instruction with the inverse
    # (mov/mvn, and/bic, adc/sbc) or the negation (add/sub, cmp/cmn); add (not adds) from
    # pc takes a value of 2^31 or more as negative: sub; mov of 16 bits neither encodes is
    # movw.
    if out and out[-1].startswith("#") and base in {**_A32_DP_INV, **_A32_DP_NEG}:
        v = _num(out[-1][1:]) & 0xffffffff
        if base == "add" and not s and len(out) == 3 and out[1] == "pc" and v >= 1 << 31 \
                and _a32_modimm(-v):
            base, v = "sub", -v & 0xffffffff
        elif not _a32_modimm(v):
            if base in _A32_DP_INV and _a32_modimm(~v):
                base, v = _A32_DP_INV[base], ~v & 0xffffffff
            elif base in _A32_DP_NEG and _a32_modimm(-v):
                base, v = _A32_DP_NEG[base], -v & 0xffffffff
            elif base == "mov" and not s and v <= 0xffff:
                base = "movw"
        out = out[:-1] + ["#" + _hex(v)]
    return base + s + cond, out
# ---- A32 dp (end) ----
# ---- A32 sys ----
# Branches and system instructions (encoders/a32/branch.tbl, docs/a32-sys.md).
# dmb/dsb/isb options as their numbers: objdump prints ARMv8's names for the ARMv7
# reserved values (oshld, nshld, ishld, ld), un/unst for nsh/nshst, and ssbb, pssbb for
# dsb #0, #4, dfb for dsb #12; GNU as reads a missing option as sy.
_A32_BARRIER = {"sy": 15, "st": 14, "ld": 13, "ish": 11, "ishst": 10, "ishld": 9, "nsh": 7,
                "un": 7, "nshst": 6, "unst": 6, "nshld": 5, "osh": 3, "oshst": 2, "oshld": 1}
# msr's APSR masks are CPSR_f, CPSR_s, CPSR_fs (objdump's spelling); mrs reads APSR as CPSR.
_A32_PSR_MASK = {"cpsr_f": "apsr_nzcvq", "cpsr_s": "apsr_g", "cpsr_fs": "apsr_nzcvqg",
                 "cpsr_sf": "apsr_nzcvqg", "apsr_gnzcvq": "apsr_nzcvqg"}


def _a32_sys(mnem, out):
    """A32 branches and system instructions: (mnemonic, operands) in one notation."""
    m = re.match(r"^(dmb|dsb|isb|nop|svc|bkpt|udf|mrs|msr|ssbb|pssbb|dfb)(%s)?$" % _ARM_COND, mnem)
    if not m:
        return mnem, out
    base = m.group(1)
    if base in ("ssbb", "pssbb", "dfb"):
        return "dsb", ["#" + _hex({"ssbb": 0, "pssbb": 4, "dfb": 12}[base])]
    if base in ("dmb", "dsb", "isb"):
        if not out:
            out = ["sy"]
        out = ["#" + _hex(_A32_BARRIER[o]) if o in _A32_BARRIER else o for o in out]
    elif base == "nop" and out == ["{0}"]:
        out = []  # objdump shows the hint number of nop
    elif base in ("svc", "bkpt", "udf"):
        if not out:
            out = ["#0x0"]  # bkpt, udf: the immediate defaults to 0
        # objdump prints svc and bkpt's number bare (0x00ffffff)
        out = ["#" + _hex(int(o, 16)) if re.match(r"^0x[0-9a-f]+$", o) else o for o in out]
    elif base == "mrs" and len(out) == 2 and out[1] == "apsr":
        out = [out[0], "cpsr"]
    elif base == "msr" and out:
        out = [_A32_PSR_MASK.get(out[0], out[0])] + out[1:]
    return mnem, out
# ---- end A32 sys ----


def normalise_arm(text, target, addr=None):
    """The canonical form of one A32 (UAL) or AArch64 instruction as GNU as reads it or
    as objdump / capstone print it (see normalise_x86 for `addr`)."""
    return _arm_rules(_arm_lex(text, target), target, addr)


def _arm_lex(text, target):
    """The first steps of normalise_arm (case, annotations, spacing, number notation,
    condition and register spellings): (mnemonic, operands text). The rest of the
    normaliser is a function of this, the target and the address."""
    a32 = target == "arm"
    s = text.strip().lower()  # case
    # objdump's comments (A32 `@ 0x29`, `@ (str r0, [sp, #-4]!)`; AArch64 `// #1`) and
    # a target's symbol (`<__iv_3+0x2>`) are annotations, not operands.
    s = re.sub(r"\s*(@|//).*$", "", s)
    s = re.sub(r"\s*<[^>]*>", "", s)
    s = re.sub(r"\s+", " ", s).strip()  # spacing: objdump separates with a tab
    words = s.split(" ", 1)
    mnem = words[0]
    rest = re.sub(r"\s*([,\[\]{}!])\s*", r"\1", words[1]) if len(words) > 1 else ""
    # ---- AArch64 FP scalar: FP constants ----
    # An FP constant (fmov's 8-bit immediate, fcmp's #0.0) is one value however written:
    # imago #1.0, objdump #1.000000000000000000e+00, capstone #1.00000000. Compared as the
    # value, marked #f so that the integer rule below leaves it alone.
    if not a32:
        rest = _A64_FP_RE.sub(lambda m: "#f" + repr(float(m.group(1))), rest)
    # A condition operand (fccmp, fcsel; csel and ccmp alike): capstone prints hs/lo
    # for cs/cc, which GNU as reads as the same condition.
    if not a32:
        rest = re.sub(r"(?<=,)(hs|lo)$", lambda m: _ARM_COND_ALIAS[m.group(1)], rest)
    # ---- end AArch64 FP scalar ----
    if a32:
        rest = _a32_vfp_lex(mnem, rest)  # A32 vfp: FP constants, vcmp's zero
    # Numbers: decimal or hex (#41, #0x29): one notation, sign kept.
    rest = _ARM_NUM_RE.sub(lambda m: "#" + _hex(_num(m.group(1) + m.group(2))), rest)
    if a32:
        rest = re.sub(r"\b(%s)\b" % "|".join(_A32_REG_ALIAS),
                      lambda m: _A32_REG_ALIAS[m.group(1)], rest)
    m = re.match(r"^(.*?)(%s)$" % "|".join(_ARM_COND_ALIAS), mnem)
    if m and len(mnem) > 2 and m.group(1) not in ("", "b.") or mnem in ("b.hs", "b.lo"):
        mnem = m.group(1) + _ARM_COND_ALIAS[m.group(2)]
    return mnem, rest


def _arm_rules(lexed, target, addr):
    """normalise_arm after _arm_lex."""
    bits = BITS[target]
    a32 = target == "arm"
    mnem, rest = lexed
    ops = _split_arm_operands(rest)

    branch = _A32_BRANCH_RE.match(mnem) if a32 else (
        _A64_BRANCH_RE.match(mnem) or (_A64_LITERAL_RE.match(mnem) and len(ops) == 2
                                       and not ops[-1].startswith("[")))
    # adrp's target is a 4 KiB page: `.+N` (at pc = 0, as the vectors mean it) is the page
    # of N, and a decoder's absolute page is relative to the page of its address.
    page = ~0xfff if not a32 and mnem == "adrp" else -1
    out = []
    for i, op in enumerate(ops):
        if op.startswith(".") and _NUM_RE.match(op[1:] or "x"):
            # A target relative to the instruction's start (the vectors' `.+N`).
            op = "." + _hex(_signed(_num(op[1:]) & page, bits))
        elif (branch and i == len(ops) - 1 and addr is not None
              and re.match(r"^#?(0x)?[0-9a-f]+$", op)):
            # A decoder's absolute target (objdump: hex without 0x; capstone: #0x..):
            # relative to where the decoder placed the instruction.
            op = "." + _hex(_signed(int(op.lstrip("#"), 16) - (addr & page), bits))
        elif (a32 and op.startswith("#") and not op.startswith("#f")  # (A32 vfp: #f constants)
              and not (i and ops[i - 1].startswith("["))):
            # An A32 data-processing immediate is a 32-bit value (a rotated 8-bit
            # one); objdump prints some negative (#-1073741796 for #0xc000001c):
            # compare it modulo 2^32. Offsets after a [base] keep their sign.
            op = "#" + _hex(_num(op[1:]) & 0xffffffff)
        elif a32:
            m2 = re.match(r"^\[pc(?:,#([-+]?0x[0-9a-f]+))?\]$", op)
            if m2:
                # [pc, #X] is the literal at . + 8 + X (A32 reads pc 8 bytes ahead),
                # which GNU as also reads as a label or `.+N`.
                op = "." + _hex(_num(m2.group(1) or "0") + 8)
        out.append(op)

    if a32:
        mnem, out = _a32_dp(mnem, out)  # A32 data processing (the block above)
        # ---- A32 misc ----
        # PKHTB without a shift is GNU as's spelling of PKHBT with Rn and Rm swapped
        # (pkhtb Rd, Rn, Rm = pkhbt Rd, Rm, Rn: the tb form has no asr #0); the decoders
        # print pkhbt.
        m = re.match(r"^pkhtb(%s)?$" % _ARM_COND, mnem)
        if m and len(out) == 3:
            mnem, out = "pkhbt" + (m.group(1) or ""), [out[0], out[2], out[1]]
        # ---- end A32 misc ----
        mnem, out = _a32_mem_normalise(mnem, out)  # A32 loads and stores (the block above)
        # PUSH/POP of one register are STR/LDR with writeback on sp (their A1
        # encodings); objdump prints push/pop, capstone str for push.
        m = re.match(r"^str(%s)?$" % _ARM_COND, mnem)
        if m and len(out) == 2 and out[1] == "[sp,#-0x4]!":
            mnem, out = "push" + (m.group(1) or ""), ["{%s}" % out[0]]
        m = re.match(r"^ldr(%s)?$" % _ARM_COND, mnem)
        if m and len(out) == 3 and out[1] == "[sp]" and out[2] == "#0x4":
            mnem, out = "pop" + (m.group(1) or ""), ["{%s}" % out[0]]
        # PUSH/POP of a list are the preferred names of STMDB (STMFD) and LDM (LDMIA,
        # LDMFD) on sp with writeback; objdump and capstone print those for some
        # lists (`push {sp}`).
        m = re.match(r"^(stmdb|stmfd|ldm|ldmia|ldmfd)(%s)?$" % _ARM_COND, mnem)
        if m and len(out) == 2 and out[0] == "sp!" and out[1].startswith("{"):
            mnem = ("push" if m.group(1).startswith("st") else "pop") + (m.group(2) or "")
            out = out[1:]
        mnem, out = _a32_sys(mnem, out)  # A32 branches and system (the block above)
        mnem, out = _a32_vfp_rules(mnem, out)  # A32 vfp: lists, vmov and vpush/vpop names
    else:
        mnem, out = _a64_mem_normalise(mnem, out)  # AArch64 loads/stores, branches
        # An immediate with `lsl #s` (add/sub #imm12, lsl #12; movz #imm16, lsl #16k)
        # is the value imm << s, which GNU as also reads written as one number.
        if len(out) >= 2 and out[-2].startswith("#") and re.match(r"^lsl#0x[0-9a-f]+$",
                                                                     out[-1].replace(" ", "")):
            v = _num(out[-2][1:]) << _num(out[-1].replace(" ", "")[4:])
            out = out[:-2] + ["#" + _hex(v)]
        # MOV (wide immediate) is the preferred name of MOVZ: objdump prints mov,
        # capstone movz, GNU as reads both.
        if mnem == "movz":
            mnem = "mov"
        mnem, out = _a64_base(mnem, out)  # AArch64 data processing (the block above)
        rbits = 32 if out and out[0].startswith("w") else 64
        if mnem == "mov" and len(out) == 2 and out[1].startswith("#"):
            # A wide immediate is a value of the register's width: `#-0x1` or
            # `#0xffffffffffffffff`, compared modulo 2^width.
            out[1] = "#" + _hex(_num(out[1][1:]) & ((1 << rbits) - 1))
        # NEG(S) is the preferred name of SUB(S) from the zero register.
        if mnem in ("neg", "negs") and out:
            mnem = "sub" + mnem[3:]
            out = out[:1] + ["wzr" if rbits == 32 else "xzr"] + out[1:]
        # MOV to or from sp is the preferred name of ADD #0 (objdump and capstone
        # print mov x4, sp for add x4, sp, #0).
        if mnem == "mov" and len(out) == 2 and {"sp", "wsp"} & set(out) and \
                not out[1].startswith("#"):
            mnem, out = "add", out + ["#0x0"]
        # ---- AArch64 Advanced SIMD ----
        mnem, out = _a64_simd(mnem, out)
    return mnem + (" " + ",".join(out) if out else "")


NORMALISERS = {"x86_64": normalise_x86, "i386": normalise_x86,
               "arm": normalise_arm, "aarch64": normalise_arm}


def covered(target):
    return target in NORMALISERS


def canonical(target, text, addr=None):
    return NORMALISERS[target](text, target, addr)


LEXERS = {"x86_64": lambda text, _target: _x86_lex(text),
          "i386": lambda text, _target: _x86_lex(text),
          "arm": _arm_lex, "aarch64": _arm_lex}
RULES = {"x86_64": _x86_rules, "i386": _x86_rules, "arm": _arm_rules, "aarch64": _arm_rules}
# Mnemonics (as the first steps leave them) whose rules read the decoder's address:
# the branches and (AArch64) the literal loads. For the others the canonical form is
# a function of the first steps' result alone.
_USES_ADDR = {"x86_64": lambda lexed: _X86_BRANCH_RE.match(lexed[1]),
              "i386": lambda lexed: _X86_BRANCH_RE.match(lexed[1]),
              "arm": lambda lexed: _A32_BRANCH_RE.match(lexed[0]),
              "aarch64": lambda lexed: (_A64_BRANCH_RE.match(lexed[0])
                                        or _A64_LITERAL_RE.match(lexed[0]))}


class Text:
    """A vector's text with its normaliser's first steps and canonical form, each
    computed once, when first needed (one per vector, shared by the decoders)."""

    __slots__ = ("target", "text", "_spaced", "_lexed", "_canon")

    def __init__(self, target, text):
        self.target, self.text = target, text
        self._spaced = self._lexed = self._canon = None

    def spaced(self):
        if self._spaced is None:
            self._spaced = " ".join(self.text.lower().split())
        return self._spaced

    def lexed(self):
        if self._lexed is None:
            self._lexed = LEXERS[self.target](self.text, self.target)
        return self._lexed

    def canon(self):
        if self._canon is None:
            self._canon = RULES[self.target](self.lexed(), self.target, None)
        return self._canon


def agree(target, text, canon_text, decoded, addr):
    """(equal?, canonical text, canonical decoding) of a vector's text and a decoder's
    output. canon_text: the text's canonical form, or a Text (computed only as needed:
    then an agreement returns (True, None, None)).
    The same text up to case and spacing is the same instruction; so is the same
    result of the normaliser's first steps (_x86_lex, _arm_lex) for a mnemonic whose
    rules do not read the address (_USES_ADDR): the rest of the normaliser is then a
    function of that result, so this is what comparing canonical forms would find."""
    t = canon_text if isinstance(canon_text, Text) else None
    if " ".join(decoded.lower().split()) == (t.spaced() if t else
                                             " ".join(text.lower().split())):
        # the same text up to case and spacing
        return (True, None, None) if t else (True, canon_text, canon_text)
    lexed = LEXERS[target](decoded, target)
    if t is not None and lexed == t.lexed() and not _USES_ADDR[target](lexed):
        return True, None, None
    b = RULES[target](lexed, target, addr)
    a, b = drop_unmatched_sizes(t.canon() if t else canon_text, b)
    return a == b, a, b


def same(target, text, decoded, addr):
    """(equal?, canonical text, canonical decoding)."""
    return agree(target, text, canonical(target, text), decoded, addr)


# ---- known differences -------------------------------------------------------------------


class Known:
    """A class of difference a second-opinion tool is known to show, with its reason.
    `match(target, text, imago_hex, tool_output)` says whether one difference is of
    this class: tool_output is the decoder's list of (length, text) for decoder
    classes, and llvm-mc's hex (or None) and error message for llvm-mc classes."""

    def __init__(self, ident, tool, reason, match):
        self.id, self.tool, self.reason, self.match = ident, tool, reason, match


_X86_PREFIX_BYTES = "(?:(?:66|67|f0|f2|f3|2e|36|3e|26|64|65)*(?:4[0-9a-f])?)"


def _capstone_nop_reg(target, text, hexstr, dec):
    # 0F 1F /0 with a register operand (ModRM mod=11), which capstone 4 rejects.
    return (target in ("x86_64", "i386") and len(dec) == 1 and dec[0][1] == "(bad)"
            and re.fullmatch(_X86_PREFIX_BYTES + r"0f1f[c-f][0-7]", hexstr) is not None)


_ABS_RE = re.compile(r"\[(-?0x[0-9a-f]+)\]")


def _capstone_abs32(target, text, hexstr, dec):
    # capstone 4 prints the address of an absolute [disp32] operand (which 64-bit
    # code sign-extends) as its low 32 or 16 bits when the instruction's register
    # operand is that wide: [0xfffffff0] for [-0x10]. Equal modulo 2^32 (2^16), and
    # the bytes hold a ModRM+SIB absolute disp32 (mod=00 r/m=100, SIB index=100
    # base=101).
    if target != "x86_64" or len(dec) != 1:
        return False
    if not re.search(r"[0-3][4c][26ae]5[0-9a-f]{8}", hexstr):
        return False
    a = normalise_x86(text, target)
    b = normalise_x86(dec[0][1], target, 0)
    a, b = drop_unmatched_sizes(a, b)
    for bits in (32, 16, 8):
        low = lambda s: _ABS_RE.sub(  # noqa: E731
            lambda m: "[%s]" % _hex(_num(m.group(1)) & ((1 << bits) - 1)), s)
        if a != b and low(a) == low(b):
            return True
    return False


def _capstone_movsxd32(target, text, hexstr, dec):
    # MOVSXD without REX.W (63 /r, a 32- or 16-bit destination): capstone 4 prints
    # the destination as the 64-bit register.
    if target != "x86_64" or len(dec) != 1:
        return False
    rest = _split_prefixes(hexstr)[1]
    if not re.match(r"^(4[0-7])?63", rest):
        return False
    a = normalise_x86(text, target)
    b = normalise_x86(dec[0][1], target, 0)
    a, b = drop_unmatched_sizes(a, b)
    m = re.match(r"^movsxd ([a-z0-9]+),", a)
    r64 = {v: k for k, v in list(_R32_OF_R64.items()) + list(_R16_OF_R64.items())}
    return (m is not None and m.group(1) in r64
            and b == a.replace("movsxd " + m.group(1) + ",", "movsxd " + r64[m.group(1)] + ",", 1))


_R32_OF_R64 = dict(zip("rax rcx rdx rbx rsp rbp rsi rdi".split(),
                       "eax ecx edx ebx esp ebp esi edi".split()))
_R32_OF_R64.update({"r%d" % n: "r%dd" % n for n in range(8, 16)})
_R16_OF_R64 = dict(zip("rax rcx rdx rbx rsp rbp rsi rdi".split(),
                       "ax cx dx bx sp bp si di".split()))
_R16_OF_R64.update({"r%d" % n: "r%dw" % n for n in range(8, 16)})


def _capstone_sse_xmmword(target, text, hexstr, dec):
    # capstone 4 prints the memory operand of comiss/comisd (and ucomiss/ucomisd)
    # as xmmword; the instructions read 32 and 64 bits (GNU as, objdump, the SDM).
    if len(dec) != 1:
        return False
    a = normalise_x86(text, target)
    b = normalise_x86(dec[0][1], target, 0)
    return (re.match(r"^u?comis[sd] ", a) is not None and "xmmword ptr" in b
            and re.sub(r"\b[a-z]+ ptr ", "", a) == re.sub(r"\b[a-z]+ ptr ", "", b))


def _capstone_rep_66(target, text, hexstr, dec):
    # 66 before a rep prefix on a string instruction (66 F3 A5, GNU as's order for
    # `rep movsw`): capstone 4 drops the operand-size prefix and prints the dword
    # form.
    if len(dec) != 1 or not re.fullmatch(r"66f[23]a[4-7a-f]", hexstr):
        return False
    a = normalise_x86(text, target)
    b = normalise_x86(dec[0][1], target, 0)
    return a.endswith("w") and b == a[:-1] + "d"


def _objdump_a32_nop(target, text, hexstr, dec):
    # E1A00000 (mov r0, r0 with condition al) is printed `nop` by objdump.
    return (target == "arm" and hexstr == "0000a0e1" and len(dec) == 1
            and normalise_arm(dec[0][1], target, 0) == "nop"
            and normalise_arm(text, target) == "mov r0,r0")


def _capstone_6690(target, text, hexstr, dec):
    # 66 90 is `xchg ax, ax` (objdump, GNU as) and the SDM's two-byte NOP.
    return (target in ("x86_64", "i386") and hexstr == "6690" and len(dec) == 1
            and dec[0][0] == 2 and dec[0][1].strip() == "nop"
            and normalise_x86(text, target) in ("xchg ax,ax", "nop"))


# (AArch64 data processing)
def _capstone_a64_cond_alias_alnv(target, text, hexstr, dec):
    # capstone prints csinc/csinv/csneg with Rn = Rm (or zr) and condition al or nv as
    # cinc/cinv/cneg/cset/csetm with the inverted condition (nv for al, al for nv),
    # which the ARM ARM's alias conditions exclude (and GNU as rejects). Matched when
    # the decoding with al <-> nv read as the inversion is the vector's instruction.
    if target != "aarch64" or len(dec) != 1:
        return False
    m = re.match(r"^\s*(cinc|cinv|cneg|cset|csetm)\s+(.*),\s*(al|nv)\s*$", dec[0][1].lower())
    if not m:
        return False
    ops = [o.strip() for o in m.group(2).split(",")]
    zr = "wzr" if ops[0].startswith("w") else "xzr"
    base = {"cinc": "csinc", "cinv": "csinv", "cneg": "csneg", "cset": "csinc",
            "csetm": "csinv"}[m.group(1)]
    rn = ops[1] if len(ops) == 2 else zr
    inv = "nv" if m.group(3) == "al" else "al"
    want = "%s %s,%s,%s,%s" % (base, ops[0], rn, rn, inv)
    return normalise_arm(text, target) == want


def _a64_fp16(word):
    # The FEAT_FP16 (ARMv8.2) scalar encodings of the FP table: FP data processing with
    # ftype 11 (h) but fcvt from h (1-source opcode 0001xx, ARMv8.0); the Advanced SIMD
    # scalar two-register FP16 group (fcvt*/scvtf/ucvtf h, h); the scalar shift by
    # immediate with immh 001x (the h fixed-point conversions); fmul h by element.
    if word & 0x5f000000 == 0x1e000000 and word >> 22 & 3 == 3:
        one_source = word & 0x1f207c00 == 0x1e204000
        return not (one_source and word >> 17 & 0xf == 1)
    if word & 0x5f000000 == 0x1f000000 and word >> 22 & 3 == 3:
        return True  # fmadd/fmsub/fnmadd/fnmsub h
    return (word & 0xdf7e0c00 == 0x5e780800 or word & 0xdff00400 == 0x5f100400
            or word & 0xffc0f400 == 0x5f009000)


def _capstone_a64_fp16(target, text, hexstr, dec):
    # capstone 4.0.2 predates FEAT_FP16: it reports no instruction for the h forms.
    if target != "aarch64" or len(dec) != 1 or dec[0][1].strip() != "(bad)":
        return False
    if len(hexstr) != 8:
        return False
    return _a64_fp16(int.from_bytes(bytes.fromhex(hexstr), "little"))


DECODER_CLASSES = [
    Known("capstone4-nop-reg", "capstone",
          "capstone 4.0.2 decodes the multi-byte nop (0F 1F /0) only with a memory "
          "operand; with a register operand (ModRM mod=11, `nop eax`) it reports no "
          "instruction. objdump and the Intel SDM decode it as nop r/m.",
          _capstone_nop_reg),
    Known("capstone4-abs32-unsigned", "capstone",
          "capstone 4.0.2 prints the address of an absolute [disp32] operand in 64-bit "
          "code (sign-extended by the CPU) as its low 32 (16, 8) bits, unsigned, when the "
          "register operand is a 32-bit (16-bit, 8-bit) register ([0xfffffff0] for [-0x10], "
          "i.e. 0xfffffffffffffff0); the address agrees modulo 2^32 (2^16, 2^8) and the "
          "bytes hold the ModRM+SIB disp32 form.", _capstone_abs32),
    Known("capstone4-movsxd-r32", "capstone",
          "MOVSXD without REX.W (`movsxd r32, r/m32`, `movsxd r16, r/m32`, opcode 63): "
          "capstone 4.0.2 prints the destination as the 64-bit register. Matched when the texts agree with the "
          "destination widened and the bytes have no REX.W.", _capstone_movsxd32),
    Known("capstone4-comis-xmmword", "capstone",
          "capstone 4.0.2 prints the memory operand of comiss/comisd/ucomiss/ucomisd as "
          "xmmword; they read 32 and 64 bits (GNU as, objdump and the SDM say dword and "
          "qword). Matched when the texts agree without size keywords.",
          _capstone_sse_xmmword),
    Known("capstone4-rep-66-string", "capstone",
          "a 66 prefix before rep on a string instruction (66 F3 A5, GNU as's order "
          "for `rep movsw`): capstone 4.0.2 drops the operand size and prints the dword "
          "form (`rep movsd`). Matched by those bytes and the w/d suffixes.",
          _capstone_rep_66),
    Known("capstone-66-90-nop", "capstone",
          "capstone prints 66 90 (`xchg ax, ax` for GNU as and objdump) as `nop`, the "
          "name the Intel SDM gives the two-byte NOP; matched by those exact bytes, "
          "since one-byte 90 is `nop` too.", _capstone_6690),
    Known("objdump-a32-nop", "objdump",
          "objdump prints E1A00000 (`mov r0, r0`, the A32 no-op before ARMv6K's NOP "
          "hint) as `nop`; the NOP hint itself is E320F000, so the name cannot be "
          "normalised away without hiding a wrong encoding.", _objdump_a32_nop),
    Known("capstone-a64-cond-alias-al-nv", "capstone",
          "AArch64 csinc/csinv/csneg whose two source registers are the same (or zr) "
          "with condition al or nv: capstone prints the alias cinc/cinv/cneg/cset/csetm "
          "with the inverted condition (`cinc x1, x2, nv` for `csinc x1, x2, x2, al`), "
          "which the ARM ARM's alias conditions exclude and GNU as rejects; objdump "
          "prints the base instruction. Matched when the decoding read with al and nv "
          "as each other's inversion is the vector's instruction.",
          _capstone_a64_cond_alias_alnv),
    Known("capstone4-a64-fp16", "capstone",
          "capstone 4.0.2 decodes no FEAT_FP16 (ARMv8.2) instruction: the half-precision "
          "scalar forms (fmov/arithmetic/compares/fccmp/fcsel/frint*/conversions on h "
          "registers, fmul h by element) come back as no instruction. objdump decodes them "
          "and llvm-mc (+fullfp16) assembles them to the same bytes. Matched by the FP16 "
          "encoding groups (fcvt from h, ARMv8.0, excluded).", _capstone_a64_fp16),
]


# ---- A32 misc ----
def _objdump_a32_sat_asr32(target, text, hexstr, dec):
    # USAT/SSAT (A1) with sh=1, imm5=0 is the shift ASR #32; objdump prints the raw
    # field, `asr #0`, which GNU as reads as lsl #0 (another encoding). Matched by those
    # bytes and a decoding that is the vector's text with asr #32 written asr #0.
    if target != "arm" or len(hexstr) != 8 or len(dec) != 1:
        return False
    word = int.from_bytes(bytes.fromhex(hexstr), "little")
    if word & 0x0fa00030 != 0x06a00010 or word >> 6 & 0x3f != 1:
        return False  # usat (0110111) or ssat (0110101), bits 11:6 = imm5 0, sh 1
    return (re.search(r"asr\s*#(0x)?0\s*$", dec[0][1].split("@")[0].strip()) is not None
            and normalise_arm(re.sub(r"asr\s*#(0x)?0\s*$", "asr #32",
                                     dec[0][1].split("@")[0].strip()), target)
            == normalise_arm(text, target))


DECODER_CLASSES.append(
    Known("objdump-a32-sat-asr32", "objdump",
          "usat/ssat with `asr #32` (sh=1, imm5=0): objdump prints the raw field, `asr #0`, "
          "which GNU as reads as `lsl #0`, another encoding (capstone and llvm-mc print and "
          "read `asr #32`). Matched by those bytes and the decoding with asr #32 written "
          "asr #0.", _objdump_a32_sat_asr32))
# ---- end A32 misc ----


def _llvm_ds_prefix(target, text, hexstr, llvm_hex, err):
    # llvm-mc keeps an explicit `ds:` override as a 3E prefix; GNU as (and imago)
    # drop it because DS is already the default segment of that operand.
    return (llvm_hex is not None and re.search(r"\bds:", text, re.I) is not None
            and llvm_hex == "3e" + hexstr)


def _llvm_gnu_mnemonic(target, text, hexstr, llvm_hex, err):
    # llvm-mc's Intel parser does not know some of GNU as's spellings (xlat, pushw).
    return llvm_hex is None and err is not None and "invalid instruction mnemonic" in err


def _llvm_arm_call_reloc(target, text, hexstr, llvm_hex, err):
    # llvm-mc leaves an R_ARM_CALL relocation on a conditional or plain `bl` to a local
    # address (for the linker's BL/BLX interworking); GNU as resolves it. The
    # bytes, with the addend in the field (REL), are the same.
    return (target == "arm" and llvm_hex == hexstr and err is not None
            and "relocation" in err and re.match(r"^bl(%s)?\s" % _ARM_COND, text) is not None)


def _llvm_a32_push_sp(target, text, hexstr, llvm_hex, err):
    # llvm-mc encodes `push {sp}` as STR sp, [sp, #-4]! (PUSH's one-register A2
    # encoding, UNPREDICTABLE for sp in the ARM ARM); GNU as uses STMDB (A1).
    if target != "arm" or llvm_hex is None or len(llvm_hex) != 8:
        return False
    word = int.from_bytes(bytes.fromhex(llvm_hex), "little")
    return (re.match(r"^push(%s)?$" % _ARM_COND, normalise_arm(text, target).split(" ")[0])
            is not None and normalise_arm(text, target).endswith("{sp}")
            and word & 0x0fffffff == 0x052dd004
            and word >> 28 == int.from_bytes(bytes.fromhex(hexstr), "little") >> 28)


_LEGACY_PREFIX = ("66", "67", "f0", "f2", "f3", "2e", "36", "3e", "26", "64", "65")


def _split_prefixes(h):
    pre = []
    while len(h) >= 2 and h[:2] in _LEGACY_PREFIX:
        pre.append(h[:2])
        h = h[2:]
    return pre, h


def _llvm_prefix_order(target, text, hexstr, llvm_hex, err):
    # The same legacy prefixes in another order (llvm-mc: F3 66 A5, GNU as: 66 F3 A5).
    if target not in ("x86_64", "i386") or llvm_hex is None or err is not None:
        return False
    pa, ra = _split_prefixes(hexstr)
    pb, rb = _split_prefixes(llvm_hex)
    return ra == rb and pa != pb and sorted(pa) == sorted(pb)


def _llvm_xchg_order(target, text, hexstr, llvm_hex, err):
    # xchg reg, reg (86/87 /r): GNU as puts the first operand in ModRM.rm, llvm-mc
    # in ModRM.reg; the same exchange.
    if target not in ("x86_64", "i386") or llvm_hex is None or err is not None:
        return False
    if not re.match(r"^xchg [a-z0-9]+, ?[a-z0-9]+$", text.strip().lower()):
        return False

    def parts(h):
        pre, rest = _split_prefixes(h)
        rex = None
        if target == "x86_64" and len(rest) >= 2 and rest[0] == "4":
            rex, rest = int(rest[:2], 16), rest[2:]
        if len(rest) != 4 or rest[:2] not in ("86", "87"):
            return None
        return pre, rex, rest[:2], int(rest[2:], 16)
    a, b = parts(hexstr), parts(llvm_hex)
    if a is None or b is None or a[0] != b[0] or a[2] != b[2] or a[3] >> 6 != 3:
        return False
    m = a[3]
    swapped = 0xc0 | (m & 7) << 3 | (m >> 3) & 7
    rex = a[1]
    if rex is not None:
        rex = (rex & ~0x5) | (rex & 4) >> 2 | (rex & 1) << 2
    return b[3] == swapped and b[1] == rex


def _llvm_branch_abs_mem(target, text, hexstr, llvm_hex, err):
    # `jmp/call DWORD|QWORD PTR [address]` (an indirect branch through memory at an
    # absolute address): llvm-mc's Intel parser assembles a direct branch to that
    # address, with a relocation.
    return (target in ("x86_64", "i386") and llvm_hex is not None
            and re.match(r"^(jmp|call) [dq]word ptr \[-?(0x[0-9a-f]+|\d+)\]$",
                         text.strip().lower()) is not None
            and llvm_hex[:2] in ("e8", "e9"))


def _llvm_same_size_extend(target, text, hexstr, llvm_hex, err):
    # llvm-mc 14 rejects extension forms GNU as accepts: movzx r16, r/m16, movsxd
    # with a 16- or 32-bit destination, movsx from a 32-bit source (it takes only
    # the name movsxd, with a 64-bit destination).
    m = re.match(r"^(movsxd|movsx|movzx) ([a-z0-9]+), ?(?:([a-z]+) ptr .*|([a-z0-9]+))$",
                 text.strip().lower())
    if llvm_hex is not None or err is None or "invalid operand" not in err or m is None:
        return False
    dst = _X86_REG.get(m.group(2))
    src = _X86_SIZE.get(m.group(3)) if m.group(3) else _X86_REG.get(m.group(4))
    return dst is not None and (dst == src or (m.group(1) == "movsx" and src == 32)
                                or (m.group(1) == "movsxd" and dst in (16, 32)))


def _llvm_i386_rel32_wrap(target, text, hexstr, llvm_hex, err):
    # A 32-bit code branch whose target is more than 2 GiB away: the address wraps
    # at 4 GiB, so GNU as encodes it; llvm-mc rejects the displacement as too large.
    return (target == "i386" and llvm_hex is None and err is not None
            and "too large for field of 4 bytes" in err
            and re.match(r"^(j[a-z]+|call) \.[-+]", text.strip().lower()) is not None)


# (AArch64 data processing)
def _llvm_a64_ext_rm_size(target, text, hexstr, llvm_hex, err):
    # 64-bit add/sub (extended register): GNU as takes an x Rm with uxtb..sxtw, a w Rm
    # with uxtx/sxtx, and a w Rm with lsl (or nothing) next to sp (read as uxtw); the
    # encoding has no Rm size. llvm-mc wants the ARM ARM's sizes and rejects these.
    if target != "aarch64" or llvm_hex is not None or err is None:
        return False
    if not re.search(r"expected '\[su\]xt\[bhw\]'|expected 'sxtx' 'uxtx' or 'lsl'|"
                     r"too few operands for instruction", err):
        return False
    t = re.sub(r"\s+", " ", text.strip().lower())
    m = re.match(r"^(add|adds|sub|subs|cmp|cmn) (.*)$", t)
    if not m:
        return False
    ops = [o.strip() for o in m.group(2).split(",")]
    if m.group(1) in ("cmp", "cmn"):
        ops = ["xzr"] + ops
    if len(ops) < 3 or not re.match(r"^(x(\d+|zr)|sp)$", ops[0]) or \
            not re.match(r"^(x\d+|sp)$", ops[1]):
        return False  # a 64-bit form only
    rm = ops[2]
    ext = re.match(r"^([su]xt[bhwx])\b", ops[3]) if len(ops) > 3 else None
    if ext:
        return (ext.group(1)[-1] == "x") != rm.startswith("x")
    return rm.startswith("w")  # lsl or no extend: the x form, read as uxtw


LLVM_CLASSES = [
    Known("llvm-ds-override", "llvm-mc",
          "an explicit `ds:` segment override: llvm-mc emits the 3E prefix, GNU as "
          "drops it as redundant (DS is the operand's default segment); both decode "
          "to the same access.", _llvm_ds_prefix),
    Known("llvm-gnu-mnemonic", "llvm-mc",
          "a GNU as mnemonic spelling llvm-mc's Intel-syntax parser does not accept "
          "(`invalid instruction mnemonic`), e.g. xlat or pushw; not an encoding "
          "difference.", _llvm_gnu_mnemonic),
    Known("llvm-prefix-order", "llvm-mc",
          "the same legacy prefixes in another order: llvm-mc writes F3 66 A5 for `rep "
          "movsw`, GNU as 66 F3 A5; the CPU reads them alike.", _llvm_prefix_order),
    Known("llvm-xchg-reg-order", "llvm-mc",
          "`xchg r1, r2` between registers: GNU as puts r1 in ModRM.rm (`87 /r` is xchg "
          "r/m, r), llvm-mc in ModRM.reg; both encode the same exchange. Matched by the "
          "bytes with ModRM.reg/rm and REX.R/REX.B swapped.", _llvm_xchg_order),
    Known("llvm-branch-abs-mem", "llvm-mc",
          "`jmp`/`call` through a memory operand at an absolute address (`jmp QWORD PTR "
          "[0x10]`): llvm-mc's Intel-syntax parser assembles a direct branch to that "
          "address (E8/E9 with a relocation) instead of FF /4, FF /2.",
          _llvm_branch_abs_mem),
    Known("llvm-extend-forms", "llvm-mc",
          "llvm-mc 14 rejects extension forms GNU as and the SDM accept: `movzx r16, "
          "r/m16`, `movsxd` with a 16- or 32-bit destination, `movsx` from a 32-bit "
          "source (GNU as's other name of movsxd): `invalid operand for instruction`.",
          _llvm_same_size_extend),
    Known("llvm-i386-rel32-wrap", "llvm-mc",
          "a 32-bit branch to `.-0x80000000` or further: addresses wrap at 4 GiB in "
          "32-bit code, so GNU as (and imago) encode it; llvm-mc rejects the displacement "
          "(`value ... is too large for field of 4 bytes`).", _llvm_i386_rel32_wrap),
    Known("llvm-arm-call-reloc", "llvm-mc",
          "llvm-mc leaves an R_ARM_CALL relocation on `bl` to a local address (so the "
          "linker may turn it into BLX); GNU as resolves it. The bytes are the same.",
          _llvm_arm_call_reloc),
    Known("llvm-a32-push-sp", "llvm-mc",
          "`push {sp}`: llvm-mc emits PUSH's one-register encoding STR sp, [sp, #-4]!, "
          "which the ARM ARM makes UNPREDICTABLE for sp; GNU as (and imago) emit STMDB "
          "sp!, {sp}.", _llvm_a32_push_sp),
    Known("llvm-a64-ext-rm-size", "llvm-mc",
          "AArch64 64-bit add/adds/sub/subs/cmp/cmn (extended register): GNU as takes "
          "an x Rm with uxtb..sxtw, a w Rm with uxtx/sxtx, and a w Rm with lsl (or no "
          "extend) next to sp, read as uxtw; the encoding holds no Rm size. llvm-mc "
          "accepts only the ARM ARM's sizes. Matched by those texts and llvm-mc's "
          "extend or operand-count error.", _llvm_a64_ext_rm_size),
]


# ---- A32 mem: llvm-mc classes ----
def _llvm_a32_lsm_stack_name(target, text, hexstr, llvm_hex, err):
    # ldmed/ldmfa/stmed/stmfa (the ARM ARM's stack names of ldmib/ldmda/stmda/stmib,
    # which GNU as reads): llvm-mc 14 knows only the fd/ea names and rejects these.
    return (target == "arm" and llvm_hex is None and err is not None
            and "invalid instruction" in err
            and re.match(r"^(ldm(ed|fa)|stm(ed|fa))(%s)?\s" % _ARM_COND,
                         text.strip().lower()) is not None)


def _llvm_a32_strht_no_offset(target, text, hexstr, llvm_hex, err):
    # `strht rt, [rn]` (post-index #0, as GNU as reads it and as llvm-mc reads ldrht and
    # strt): llvm-mc 14 wants the offset written for strht (`too few operands`).
    return (target == "arm" and llvm_hex is None and err is not None
            and ("invalid instruction" in err or "too few operands" in err)
            and re.match(r"^strht(%s)?\s+\w+\s*,\s*\[\s*\w+\s*\]\s*$" % _ARM_COND,
                         text.strip().lower()) is not None)


LLVM_CLASSES += [
    Known("llvm-a32-lsm-stack-name", "llvm-mc",
          "A32 ldmed, ldmfa, stmed, stmfa (the ARM ARM's stack-oriented names of ldmib, "
          "ldmda, stmda, stmib, which GNU as reads): llvm-mc 14 accepts only the fd/ea names "
          "(`invalid instruction, did you mean: ldm, ldmda, ldmdb?`).",
          _llvm_a32_lsm_stack_name),
    Known("llvm-a32-strht-no-offset", "llvm-mc",
          "A32 `strht rt, [rn]` with no post-index offset (GNU as reads #0, as llvm-mc does "
          "for ldrht and strt): llvm-mc 14 rejects it (`too few operands for "
          "instruction`) and takes `strht rt, [rn], #0` to the same bytes.",
          _llvm_a32_strht_no_offset),
]
# ---- A32 mem: llvm-mc classes (end) ----


# AArch64 loads/stores, branches, system: llvm-mc classes (begin)
LLVM_CLASSES.append(
    Known("llvm-a64-prfm-unscaled", "llvm-mc",
          "`prfm op, [xn, #imm]` with an offset the scaled form cannot hold (negative or "
          "not a multiple of 8): GNU as assembles prfum, as it reads ldr as ldur; "
          "llvm-mc 14 rejects the text (`index must be a multiple of 8 in range [0, "
          "32760]`).", _llvm_a64_prfm_unscaled))
# AArch64 loads/stores, branches, system: llvm-mc classes (end)


# ---- A32 sys: llvm-mc classes ----
def _llvm_a32_blx_reloc(target, text, hexstr, llvm_hex, err):
    # llvm-mc leaves an R_ARM_CALL relocation on `blx` to a local address, with the
    # offset's words in imm24 and the H bit (bit 24: a halfword target) clear, for the
    # linker to fill; GNU as resolves it. The bytes equal imago's but for H.
    if target != "arm" or llvm_hex is None or err is None or "relocation" not in err:
        return False
    if not re.match(r"^blx\s+\.", text) or len(llvm_hex) != 8 or len(hexstr) != 8:
        return False
    a = int.from_bytes(bytes.fromhex(hexstr), "little")
    b = int.from_bytes(bytes.fromhex(llvm_hex), "little")
    return a & ~(1 << 24) == b


LLVM_CLASSES.append(
    Known("llvm-a32-blx-reloc", "llvm-mc",
          "llvm-mc leaves an `R_ARM_CALL` relocation on `blx` to a local address, the "
          "halfword bit H (bit 24) clear for the linker to set; GNU as resolves it. "
          "Matched when the bytes equal imago's but for H.", _llvm_a32_blx_reloc))
# ---- end A32 sys: llvm-mc classes ----


def classify(classes, *args):
    for c in classes:
        if c.match(*args):
            return c.id
    return None


def all_classes():
    return DECODER_CLASSES + LLVM_CLASSES


# ---- llvm-mc ---------------------------------------------------------------------------

_LLVM_MSG_RE = re.compile(r"^(.*?):(\d+):(\d+): (error|warning): (.*)$")


def llvm_argv(llvm, target, obj, src):
    return [llvm, "-triple", LLVM_TRIPLE[target]] + LLVM_ARGS[target] + [
        "-filetype=obj", "-o", obj, src]


def llvm_text(text, index, target):
    """The vector's text as llvm-mc is given it. llvm-mc's Intel-syntax parser has no
    `.` (the location counter); the vector's own marker __iv_N names the same
    address, so on x86 `.+N` is written `__iv_K+N`. On arm, llvm-mc 14 crashes
    (segmentation fault, no object) on ldrh/ldrsh/ldrsb from `[pc]` with no offset: that
    is written `[pc, #0]`, which GNU as reads as the same instruction. Nothing else is
    changed."""
    if target == "arm":
        return re.sub(r"^(\s*ldr(?:h|sh|sb)(?:%s)?\s.*\[\s*pc\s*)\]" % _ARM_COND,
                      r"\1, #0]", text, flags=re.I)
    if target not in ("x86_64", "i386"):
        return text
    return re.sub(r"(?<![\w.])\.(?=[-+]\s*(?:0x[0-9a-fA-F]+|\d+)\b)", "__iv_%d" % index, text)


def llvm_source(target, texts, skip=()):
    """As test_encodings.write_source: a page-relative vector starts a 4 KiB page."""
    lines = [harness.TOOLS[target]["header"]]
    for i, t in enumerate(texts):
        pad = "__ivp_%d: .p2align 12 ; " % i if (
            i not in skip and harness.page_relative(target, t)) else ""
        lines.append("%s__iv_%d:%s\n" % (pad, i, "" if i in skip else " " + llvm_text(t, i, target)))
    return "".join(lines), harness.TOOLS[target]["header"].count("\n") + 1


def llvm_messages(stderr):
    """{line: [(kind, message)]} from llvm-mc's diagnostics."""
    out = {}
    for line in stderr.splitlines():
        m = _LLVM_MSG_RE.match(line)
        if m:
            out.setdefault(int(m.group(2)), []).append((m.group(4), m.group(5)))
    return out


# ---- A32 dp: llvm-mc classes ----
def _llvm_a32_dp_subst_sp_pc(target, text, hexstr, llvm_hex, err):
    # llvm-mc 14 makes GNU as's substitutions mov<->mvn and cmp<->cmn (a value with no
    # encoding whose inverse or negation has one) only for r0-r12 and lr (its aliases take
    # rGPR), and rejects them with sp or pc; GNU as takes them (imago too).
    if target != "arm" or llvm_hex is not None or err is None:
        return False
    mnem, rest = _arm_lex(text, target)
    m = _A32_DP_RE.match(mnem)
    ops = _split_arm_operands(rest)
    if not m or m.group(1) not in ("mov", "mvn", "cmp", "cmn") or len(ops) != 2 \
            or not ops[1].startswith("#") or ops[0] not in ("sp", "pc"):
        return False
    return not _a32_modimm(_num(ops[1][1:]))


LLVM_CLASSES.append(
    Known("llvm-a32-dp-subst-sp-pc", "llvm-mc",
          "A32 `mov`/`mvn`/`cmp`/`cmn` (and movs/mvns) of sp or pc with a value that has no "
          "modified-immediate encoding but whose inverse (mov/mvn) or negation (cmp/cmn) "
          "has: GNU as assembles the partner instruction (mvn/mov, cmn/cmp); llvm-mc 14 "
          "does so only for r0-r12 and lr and rejects the text (`invalid instruction`).",
          _llvm_a32_dp_subst_sp_pc))


def _llvm_a32_add_pc_signed(target, text, hexstr, llvm_hex, err):
    # `add rd, pc, #v` (no S) with v of 2^31 or more that has an encoding, as has -v:
    # GNU as reads the value as negative (adr-like) and emits sub rd, pc, #-v; llvm-mc
    # emits the add with v.
    if target != "arm" or llvm_hex is None or len(llvm_hex) != 8 or len(hexstr) != 8:
        return False
    mnem, rest = _arm_lex(text, target)
    ops = _split_arm_operands(rest)
    if not re.match(r"^add(%s)?$" % _ARM_COND, mnem) or len(ops) != 3 or ops[1] != "pc" \
            or not ops[2].startswith("#"):
        return False
    v = _num(ops[2][1:]) & 0xffffffff
    mine = int.from_bytes(bytes.fromhex(hexstr), "little")
    theirs = int.from_bytes(bytes.fromhex(llvm_hex), "little")
    return (v >= 1 << 31 and _a32_modimm(v) and theirs & 0x0ff00000 == 0x02800000
            and mine & 0x0ff00000 == 0x02400000
            and theirs & 0xf00ff000 == mine & 0xf00ff000)


LLVM_CLASSES.append(
    Known("llvm-a32-add-pc-signed", "llvm-mc",
          "A32 `add rd, pc, #v` (no S) with v >= 2^31: GNU as reads the immediate as a "
          "signed pc-relative constant (like adr) and emits `sub rd, pc, #-v` (imago the "
          "same); llvm-mc emits the add with v when v has an encoding.",
          _llvm_a32_add_pc_signed))
# ---- A32 dp: llvm-mc classes (end) ----
