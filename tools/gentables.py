#!/usr/bin/env python3
"""Check the instruction tables (encoders/<arch>/ tables (.tbl)) and turn them into C.

One row per instruction form drives the encoder, the printer, the parser and the
conformance vectors.  This step stops the build on a bad row: unknown operand kind,
fields that do not cover the word exactly, a slice outside its kind's value, a duplicate
id, an x86 encoding whose operands cannot be placed.  Python standard library only.
"""
import argparse
import os
import re
import sys

ARCHES = [
    # (directory, C prefix, family)
    ("x86", "X86", "x86"),
    ("a64", "A64", "arm"),
    ("a32", "A32", "arm"),
]
MAX_OPS = 5
MAX_SLICES = 8


# The row flags of the ARM tables (A32 and A64) and their bits in im_form.flags
# (encoders/core/form.h; each architecture's own from bit 6 on: encoders/a64/a64.h,
# encoders/a32/a32.h).
ARM_FLAGS = {
    "pcalign": 1 << 2,
    "pcimm": 1 << 3,
    "wb": 1 << 4,
    "ldpair": 1 << 5,
    "page": 1 << 15,  # any: IM_FF_PAGE (encoders/core/form.h), a page-relative target
}
ARCH_FLAGS = {
    "a64": {
        "spext": 1 << 6,  # A64_FF_SPEXT (encoders/a64/a64.h)
        "stx": 1 << 7,  # A64_FF_STX
    },
    # encoders/a32/a32.h: bits 6-7 data processing, 8-10 loads and stores, 11 branches and
    # system, 12-13 VFP, 14 misc (each area names its own)
    "a32": {
        "pcu": 1 << 6,  # A32_FF_PCU (encoders/a32/a32.h): dp, a shift by pc UNPREDICTABLE
        "unpred": 1 << 14,  # A32_FF_UNPRED (encoders/a32/a32.h): misc
        "ovl": 1 << 8,  # A32_FF_OVL (encoders/a32/a32.h): loads and stores
        "stx": 1 << 9,  # A32_FF_STX
        "rtdiff": 1 << 12,  # A32_FF_RTDIFF (a32_vfp.c)
    },
}

# A32 only: what a row needs of the architecture, an extension or the FPU (at most one per
# row): im_form.req (encoders/core/form.h, whose IM_A32R_* enum these numbers must match).
# `imago asm` refuses the row unless .arch, .arch_extension or .fpu selected it
# (docs/asm.md).
A32_REQUIRES = {
    "v4t": 1, "v5t": 2, "v5te": 3, "v6": 4, "v6k": 5, "v6t2": 6, "v7": 7,
    "idiv": 8, "sec": 9, "mp": 10, "virt": 11,
    "vfp": 12, "vfp_dp": 13, "vfpv3": 14, "vfpv3_dp": 15, "vfpv4": 16, "vfpv4_dp": 17,
    "neon": 18, "neon_fp16": 19, "neon_vfpv4": 20, "fp16": 21,
}


class RowError(Exception):
    pass


def read_kinds(path, kinds=None, order=None):
    """KIND(name, class, bits) lines of path, following its #include "file" lines (a
    kinds.def made of one section per source file)."""
    top = kinds is None
    kinds = {} if top else kinds
    order = [] if top else order
    with open(path) as f:
        for line in f:
            inc = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if inc:
                read_kinds(os.path.join(os.path.dirname(path), inc.group(1)), kinds, order)
                continue
            m = re.match(r"\s*KIND\((\w+),\s*(\w+),\s*(\d+)\)", line)
            if m:
                name, cls, bits = m.group(1), m.group(2), int(m.group(3))
                if name in kinds:
                    raise RowError(f"{path}: kind {name} defined twice")
                kinds[name] = (cls, bits)
                order.append(name)
    if top and not kinds:
        raise RowError(f"{path}: no KIND(...) lines")
    return kinds, order


def c_str(s):
    out = []
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 32:
            out.append("\\%03o" % o)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def parse_syntax(syntax, kinds):
    """Return (mnemonic, cond_operand_index or None, template, operands)."""
    syntax = syntax.strip()
    m = re.match(r"([a-z0-9.]+(?:\{\w+:\w+\}(?:\.[a-z0-9]+)*)?)(.*)$", syntax)
    if not m:
        raise RowError("empty syntax")
    mnem_part, rest = m.group(1), m.group(2)
    ops = []  # (name, kind, default)

    def add_op(name, kind, default):
        if kind not in kinds:
            raise RowError(f"unknown operand kind '{kind}'")
        if any(o[0] == name for o in ops):
            raise RowError(f"operand name '{name}' used twice")
        if len(ops) >= MAX_OPS:
            raise RowError(f"more than {MAX_OPS} operands")
        ops.append((name, kind, default))
        return len(ops) - 1

    cond = None
    cond_at = 0xFF
    # the condition placeholder ends the mnemonic, or comes right before a '.' suffix
    # (A32 VFP: vadd{c:cond}.f32 reads vaddeq.f32)
    cm = re.match(r"^([a-z0-9.]+)\{(\w+):(\w+)\}((?:\.[a-z0-9]+)*)$", mnem_part)
    if cm:
        mnem = cm.group(1) + cm.group(4)
        if cm.group(4):
            cond_at = len(cm.group(1))
        if kinds.get(cm.group(3), ("",))[0] != "COND":
            raise RowError(f"mnemonic placeholder must be a COND kind, not '{cm.group(3)}'")
        cond = add_op(cm.group(2), cm.group(3), 0)
    elif re.match(r"^[a-z0-9.]+$", mnem_part):
        mnem = mnem_part
    else:
        raise RowError(f"bad mnemonic '{mnem_part}'")

    tpl = []
    i = 0
    depth = 0
    rest = rest.strip()
    while i < len(rest):
        if rest.startswith("(?", i):
            if depth:
                raise RowError("nested optional groups")
            depth = 1
            tpl.append("\016")
            i += 2
        elif rest[i] == ")" and depth:
            depth = 0
            tpl.append("\017")
            i += 1
        elif rest[i] == "{":
            j = rest.find("}", i)
            if j < 0:
                raise RowError("unclosed '{'")
            pm = re.match(r"^(\w+):(\w+)(?:=(-?\d+))?$", rest[i + 1:j])
            if not pm:
                raise RowError(f"bad placeholder '{rest[i:j + 1]}'")
            default = int(pm.group(3)) if pm.group(3) else 0
            if pm.group(3) and not depth:
                raise RowError("a default value only makes sense inside an optional group")
            idx = add_op(pm.group(1), pm.group(2), default)
            tpl.append(chr(idx + 1))
            i = j + 1
        else:
            tpl.append(rest[i])
            i += 1
    if depth:
        raise RowError("unclosed optional group")
    return mnem, cond, cond_at, "".join(tpl), ops


def parse_arm_encoding(enc, ops, kinds):
    names = {o[0]: n for n, o in enumerate(ops)}
    bits = 0
    mask = 0
    pos = 32
    slices = []
    covered = {n: set() for n in range(len(ops))}
    for tok in enc.split():
        if re.fullmatch(r"[01]+", tok):
            for ch in tok:
                pos -= 1
                if pos < 0:
                    raise RowError("encoding longer than 32 bits")
                mask |= 1 << pos
                if ch == "1":
                    bits |= 1 << pos
            continue
        m = re.fullmatch(r"(\w+):(\d+)", tok)
        if m:
            name, width, lo = m.group(1), int(m.group(2)), 0
        else:
            m = re.fullmatch(r"(\w+)\[(\d+)(?::(\d+))?\]", tok)
            if not m:
                raise RowError(f"bad encoding token '{tok}'")
            name = m.group(1)
            hi = int(m.group(2))
            lo = int(m.group(3)) if m.group(3) is not None else hi
            if lo > hi:
                raise RowError(f"slice '{tok}' has high < low")
            width = hi - lo + 1
        if name not in names:
            raise RowError(f"encoding field '{name}' is not an operand of the syntax")
        op = names[name]
        kbits = kinds[ops[op][1]][1]
        if lo + width > kbits:
            raise RowError(f"field '{tok}' exceeds the {kbits}-bit value of kind {ops[op][1]}")
        vbits = set(range(lo, lo + width))
        if covered[op] & vbits:
            raise RowError(f"field '{tok}' places bits of '{name}' twice")
        covered[op] |= vbits
        pos -= width
        if pos < 0:
            raise RowError("encoding longer than 32 bits")
        slices.append((op, lo, width, pos))
    if pos != 0:
        raise RowError(f"encoding covers {32 - pos} bits, not 32")
    for n, (name, kind, _) in enumerate(ops):
        kbits = kinds[kind][1]
        if covered[n] != set(range(kbits)):
            missing = sorted(set(range(kbits)) - covered[n])
            raise RowError(f"bits {missing} of operand '{name}' ({kind}) are not placed")
    if len(slices) > MAX_SLICES:
        raise RowError("too many fields")
    if bits & ~mask:
        raise RowError("fixed bits outside the mask")
    return bits, mask, slices


X86_IMM = {"ib": 1, "iw": 2, "id": 4, "io": 8}
X86_REL = {"cb": 1, "cd": 4}
X86_KIND_SIZE = {  # kinds that go in an immediate field, and their sizes
    "imm8": 1, "imm8b": 1, "imm8s16": 1, "imm8s32": 1, "imm8s64": 1, "imm16": 2, "imm32": 4, "imm32s": 4,
    "imm64": 8, "moffs8": 4, "moffs16": 4, "moffs32": 4, "rel8": 1, "rel32": 4,
}
X86_FIXED = ("al", "ax", "eax", "rax", "cl", "one")  # operands with no field of their own
X86_PREFIX = {"66": 1, "F2": 2, "F3": 4, "F0": 16, "67": 32}
X86_VEX_MAP = {"0F": 1, "0F38": 2, "0F3A": 3}
X86_VEX_PP = {"66": 1, "F3": 2, "F2": 3}
# Condition codes in encoding order: a row whose id holds {cc} stands for 16 rows, with
# {cc} replaced by the condition's name in the id and the syntax, and an opcode byte
# written XX+cc taking the condition's number.
X86_CONDS = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le",
             "g"]


def parse_vex(tok):
    """VEX.[L0|LZ|128].[66|F2|F3].(0F|0F38|0F3A).[W0|W1|WIG] -> vex byte of im_form."""
    parts = tok.split(".")[1:]
    vex, mp = 0x80, None
    for p in parts:
        if p in ("L0", "LZ", "128"):
            pass
        elif p in X86_VEX_PP:
            vex |= X86_VEX_PP[p] << 2
        elif p in X86_VEX_MAP:
            mp = X86_VEX_MAP[p]
        elif p in ("W0", "WIG"):
            pass
        elif p == "W1":
            vex |= 0x20
        else:
            raise RowError(f"bad VEX field '{p}' in '{tok}'")
    if mp is None:
        raise RowError(f"'{tok}' names no opcode map (0F, 0F38 or 0F3A)")
    return vex | mp


def parse_x86_encoding(enc, ops, kinds):
    pfx = 0
    vex = 0
    vvvv = None
    opc = []
    modrm = 0
    digit = 0
    imm_size = 0
    rel = False
    plus_r = False
    toks = enc.split()
    for tok in toks:
        if tok == "REX.W":
            pfx |= 8
        elif tok.startswith("VEX."):
            if vex or opc or pfx:
                raise RowError("VEX must come first and once")
            vex = parse_vex(tok)
        elif tok.startswith("vvvv:"):
            vvvv = tok[5:]
            if not vex:
                raise RowError("vvvv: needs a VEX encoding")
        elif tok in X86_PREFIX and not opc and not vex:
            pfx |= X86_PREFIX[tok]
        elif re.fullmatch(r"[0-9A-F]{2}", tok):
            if modrm or imm_size:
                raise RowError(f"opcode byte '{tok}' after ModRM/immediate")
            opc.append(int(tok, 16))
        elif re.fullmatch(r"[0-9A-F]{2}\+r", tok):
            if plus_r:
                raise RowError("two +r opcodes")
            if int(tok[:2], 16) & 7:
                raise RowError(f"'{tok}': +r needs an opcode with low 3 bits clear")
            opc.append(int(tok[:2], 16))
            plus_r = True
        elif tok == "/r":
            modrm = 1
        elif re.fullmatch(r"/[0-7]", tok):
            modrm = 2
            digit = int(tok[1])
        elif tok in X86_IMM or tok in X86_REL:
            if imm_size:
                raise RowError("two immediates")
            imm_size = X86_IMM.get(tok) or X86_REL[tok]
            rel = tok in X86_REL
        else:
            raise RowError(f"bad encoding token '{tok}'")
    if not 1 <= len(opc) <= 3:
        raise RowError("need 1 to 3 opcode bytes")
    if plus_r and modrm:
        raise RowError("+r and ModRM in one form")
    if vex and len(opc) != 1:
        raise RowError("a VEX form has one opcode byte after the VEX field")
    if vvvv is not None and vvvv not in [o[0] for o in ops]:
        raise RowError(f"vvvv: '{vvvv}' is not an operand of the syntax")
    roles = []
    for name, kind, _ in ops:
        cls = kinds[kind][0]
        if name == vvvv:
            if cls != "REG":
                raise RowError(f"vvvv operand '{name}' must be a register kind")
            roles.append(7)
        elif kind in X86_FIXED:
            roles.append(6)  # fixed
        elif cls == "REL":
            roles.append(5)
        elif kind in X86_KIND_SIZE:
            roles.append(4)
        elif cls in ("RM", "MEM"):
            roles.append(2)
        elif cls == "REG":
            if plus_r:
                roles.append(3)
            elif modrm == 2:
                roles.append(2)
            else:
                roles.append(1)
        else:
            raise RowError(f"operand kind {kind} has no x86 role")
    if roles.count(2) > 1 or roles.count(1) > 1 or roles.count(3) > 1:
        raise RowError("operands compete for the same ModRM field")
    if modrm == 1 and (roles.count(2) != 1 or roles.count(1) != 1):
        raise RowError("/r needs one r/m operand and one register operand")
    if modrm == 2 and roles.count(2) != 1:
        raise RowError("/digit needs one r/m operand")
    if plus_r and roles.count(3) != 1:
        raise RowError("+r needs one register operand")
    nimm = roles.count(4) + roles.count(5)
    if nimm != (1 if imm_size else 0):
        raise RowError("immediate field and immediate operands do not match")
    for (name, kind, _), role in zip(ops, roles):
        if role in (4, 5):
            if X86_KIND_SIZE[kind] != imm_size:
                raise RowError(f"operand '{name}' ({kind}) does not fit a {imm_size}-byte field")
            if (role == 5) != rel:
                raise RowError(f"operand '{name}' ({kind}) and the field kind disagree")
    return pfx, vex, opc, modrm, digit, imm_size, roles


def expand_cc(line):
    """A row whose id holds {cc}: its 16 condition rows (see X86_CONDS)."""
    cols = line.split("|")
    if "{cc}" not in cols[0]:
        return [line]
    out = []
    for n, cc in enumerate(X86_CONDS):
        enc = cols[2]
        m = re.search(r"\b([0-9A-F]{2})\+cc\b", enc)
        if not m or int(m.group(1), 16) & 15:
            raise RowError("a {cc} row needs one opcode byte written XX+cc with XX's low 4 bits clear")
        enc = enc[:m.start()] + "%02X" % (int(m.group(1), 16) + n) + enc[m.end():]
        out.append("|".join([cols[0].replace("{cc}", cc), cols[1].replace("{cc}", cc), enc] +
                            cols[3:]))
    return out


def load_rows(tbl_dir, kinds, family, arch):
    rows = []
    ids = set()
    files = sorted(f for f in os.listdir(tbl_dir) if f.endswith(".tbl"))
    if not files:
        raise RowError(f"{tbl_dir}: no .tbl files")
    for fn in files:
        path = os.path.join(tbl_dir, fn)
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                s = line.strip()
                if not s or s.startswith("#"):
                    continue
                where = f"{path}:{lineno}"
                try:
                    lines = expand_cc(s) if family == "x86" else [s]
                except RowError as e:
                    raise RowError(f"{where}: {e}") from None
                for s in lines:
                    rows.append(load_row(s, where, kinds, family, ids, arch))
    if family == "arm":
        seen = {}
        for r in rows:
            key = (r["bits"], r["mask"], r["mnem"], tuple(o[1] for o in r["ops"]), r["tpl"])
            if key in seen:
                raise RowError(f"{r['where']}: same form as {seen[key]}")
            seen[key] = r["where"]
    return rows


def load_row(s, where, kinds, family, ids, arch):
    try:
        cols = [c.strip() for c in s.split("|")]
        if len(cols) not in (3, 4):
            raise RowError("expected 'id | syntax | encoding [| flags]'")
        rid, syntax, enc = cols[:3]
        flags = cols[3].split() if len(cols) == 4 else []
        if not re.fullmatch(r"[a-z][a-z0-9_]*", rid):
            raise RowError(f"bad id '{rid}'")
        if rid in ids:
            raise RowError(f"duplicate id '{rid}'")
        ids.add(rid)
        mnem, cond, cond_at, tpl, ops = parse_syntax(syntax, kinds)
        fl = req = 0
        for flag in flags:
            if family == "x86" and flag == "x64":
                fl |= 1
            elif family == "x86" and flag == "x32":
                fl |= 2
            elif family == "arm" and flag in ARM_FLAGS:
                fl |= ARM_FLAGS[flag]
            elif flag in ARCH_FLAGS.get(arch, {}):
                fl |= ARCH_FLAGS[arch][flag]
            elif arch == "a32" and flag in A32_REQUIRES:
                if req:
                    raise RowError(f"a row needs one feature at most ('{flag}' is a second)")
                req = A32_REQUIRES[flag]
            else:
                raise RowError(f"unknown flag '{flag}'")
        row = dict(id=rid, mnem=mnem, cond=cond, cond_at=cond_at, tpl=tpl, ops=ops, flags=fl,
                   req=req, where=where)
        if family == "arm":
            row["bits"], row["mask"], row["slices"] = parse_arm_encoding(enc, ops, kinds)
        else:
            toks = enc.split()
            if ("REX.W" in toks or any(t.startswith("VEX.") and ".W1" in t for t in toks)) \
                    and not fl & 1:
                raise RowError("REX.W and VEX.W1 rows exist only in x86_64: add the x64 flag")
            (row["pfx"], row["vex"], row["opc"], row["modrm"], row["digit"], row["imm_size"],
             row["roles"]) = parse_x86_encoding(enc, ops, kinds)
        return row
    except RowError as e:
        raise RowError(f"{where}: {e}") from None


def arm_whole(r, kinds):
    """im_form's whole, rel and pos of an ARM row: whole when every operand is placed by at
    most one slice (slices cover every bit of an operand's value, so that slice is its whole
    field), each operand's position then (0 otherwise); rel, the last operand of class REL
    (a branch or literal target), or -1."""
    nops = len(r["ops"])
    count, pos = [0] * nops, [0] * nops
    for op, lo, width, at in r["slices"]:
        count[op] += 1
        pos[op] = at
    whole = all(c <= 1 for c in count)
    if not whole:
        pos = [0] * nops
    rel = max((n for n, o in enumerate(r["ops"]) if kinds[o[1]][0] == "REL"), default=-1)
    return int(whole), rel, pos


def emit(arch_dir, prefix, family, tables, out_dir):
    kinds, order = read_kinds(os.path.join("encoders", arch_dir, "kinds.def"))
    rows = load_rows(os.path.join(tables, arch_dir), kinds, family, arch_dir)
    low = prefix.lower()
    lines = [f"/* generated by tools/gentables.py from {tables}/{arch_dir}/ tables (.tbl); do not edit */",
             f"static const im_form im_{low}_forms[] = {{"]
    for r in rows:
        nops = len(r["ops"])
        kl = ", ".join(f"K({o[1]})" for o in r["ops"]) or "0"
        dl = ", ".join(str(o[2]) for o in r["ops"]) or "0"
        cond = 0xFF if r["cond"] is None else r["cond"]
        f = [f".id = {c_str(r['id'])}", f".mnem = {c_str(r['mnem'])}", f".tpl = {c_str(r['tpl'])}",
             f".nops = {nops}", f".cond_op = {cond}", f".cond_at = {r['cond_at']}", f".flags = {r['flags']}",
             f".kinds = {{{kl}}}", f".defs = {{{dl}}}"]
        if family == "arm":
            sl = ", ".join("{%d, %d, %d, %d}" % s for s in r["slices"])
            f += [f".bits = 0x{r['bits']:08x}u", f".mask = 0x{r['mask']:08x}u",
                  f".nslices = {len(r['slices'])}", f".slices = {{{sl}}}"]
            whole, rel, pos = arm_whole(r, kinds)
            pl = ", ".join(str(x) for x in pos) or "0"
            f += [f".whole = {whole}", f".rel = {rel}", f".pos = {{{pl}}}", f".req = {r['req']}"]
        else:
            ob = ", ".join(f"0x{b:02x}" for b in r["opc"])
            rl = ", ".join(str(x) for x in r["roles"]) or "0"
            f += [f".pfx = {r['pfx']}", f".vex = {r['vex']}", f".opc_len = {len(r['opc'])}", f".opc = {{{ob}}}",
                  f".modrm = {r['modrm']}", f".digit = {r['digit']}",
                  f".imm_size = {r['imm_size']}", f".roles = {{{rl}}}"]
        lines.append("    {" + ", ".join(f) + "},")
    lines.append("};")
    # The mnemonic index: the rows of each mnemonic in table order, names sorted, so the
    # assembler finds a word's rows by binary search instead of trying every row.
    groups = {}
    for n, r in enumerate(rows):
        groups.setdefault(r["mnem"], []).append(n)
    order, index = [], []
    for name in sorted(groups):
        index.append((name, len(order), len(groups[name])))
        order += groups[name]
    lines.append(f"static const uint16_t im_{low}_mnem_forms[] = {{")
    for i in range(0, len(order), 16):
        lines.append("    " + ", ".join(str(x) for x in order[i:i + 16]) + ",")
    lines.append("};")
    lines.append(f"static const im_mnem im_{low}_mnems[] = {{")
    for name, first, count in index:
        lines.append(f"    {{{c_str(name)}, {first}, {count}}},")
    lines.append("};")
    with open(os.path.join(out_dir, f"{low}_tbl.h"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    enum = [f"    IM_{prefix}_{r['id'].upper()} = {n}," for n, r in enumerate(rows)]
    enum.append(f"    IM_{prefix}_NFORMS = {len(rows)}")
    return "enum {\n" + "\n".join(enum) + "\n};\n", len(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tables", default="encoders", help="directory holding <arch>/ tables (.tbl)")
    ap.add_argument("-o", "--output", required=True, help="stamp header to write")
    args = ap.parse_args()
    out_dir = os.path.dirname(args.output) or "."
    os.makedirs(os.path.join(out_dir, "imago"), exist_ok=True)
    enums = []
    try:
        for arch_dir, prefix, family in ARCHES:
            text, n = emit(arch_dir, prefix, family, args.tables, out_dir)
            enums.append(f"/* {arch_dir}: {n} forms */\n" + text)
    except RowError as e:
        print(f"gentables: error: {e}", file=sys.stderr)
        return 1
    with open(os.path.join(out_dir, "imago", "forms.h"), "w") as fh:
        fh.write("/* generated by tools/gentables.py: form ids of every table row */\n"
                 "#ifndef IMAGO_FORMS_H\n#define IMAGO_FORMS_H\n" + "\n".join(enums) +
                 "#endif\n")
    with open(args.output, "w") as fh:
        fh.write("/* generated by tools/gentables.py */\n#include \"imago/forms.h\"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
