#!/usr/bin/env python3
"""Write the fuzzers' seed corpora: fuzz/corpus (images that imago itself writes; committed)
and the assembler's (sources; made into build/fuzz/asm/seeds by make, not committed).

fuzz/corpus:
- every conformance program (conformance/programs/TARGET/*.s), assembled by `imago asm`
  into a one-section image (the real writer);
- images with several modules, imports, TOC slots and every relocation kind and ref, which
  `imago asm` cannot write yet: built by fuzz/imgv2.py, which lays images out byte for byte
  as im_img_write does (tests/test_bad_input.py, test_v2_python_writer_matches_imago,
  checks that on images `imago asm` wrote);
- a version 1 image (the old layout the reader still accepts).
Small by design (each file well under 1 KiB).

The assembler's corpus (--asm-out): each file is one byte naming the target (fuzz/fuzz_asm.c: 0 x86_64, 1 i386,
2 arm, 3 aarch64) and a source: every conformance program (conformance/programs/T/*.s and
T/link/*.s), and a few sources with the directives and relocated operands the programs use
least (ASM_EXTRA)."""

import argparse
import glob
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imgv2  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def v1_image(target, code, syms, relocs):
    """A version 1 image (48-byte section entries, reserved relocation field)."""
    pos = 64 + 48
    code_off = (pos + 15) & ~15
    pos = code_off + len(code)
    sym_off = (pos + 7) & ~7
    pos = sym_off + 16 * len(syms)
    rel_off = (pos + 7) & ~7
    pos = rel_off + 24 * len(relocs)
    buf = bytearray(pos)
    strings = bytearray()
    struct.pack_into("<9I", buf, 64, imgv2.TARGETS[target], 16, 0, code_off, len(code), sym_off,
                     len(syms), rel_off, len(relocs))
    buf[code_off:code_off + len(code)] = code
    for j, (name, off, kind) in enumerate(syms):
        struct.pack_into("<IIII", buf, sym_off + 16 * j, len(strings), off, kind, 0)
        strings += name.encode() + b"\0"
    for j, (off, kind, sym, addend) in enumerate(relocs):
        struct.pack_into("<IIiIq", buf, rel_off + 24 * j, off, kind, sym, 0, addend)
    str_off = len(buf)
    buf += strings
    buf[0:8] = imgv2.MAGIC
    struct.pack_into("<IIII", buf, 8, 1, 64, len(buf), 0)
    struct.pack_into("<6I", buf, 24, 0, 1, 64, 48, str_off, len(strings))
    return imgv2.fix_checksum(buf)


def handmade():
    """(name, bytes) of the images with modules, imports and every relocation kind."""
    F, D = imgv2.SYM_FUNC, imgv2.SYM_DATA
    L, T, I = imgv2.REF_LOCAL, imgv2.REF_TOC, imgv2.REF_IMPORT
    x86 = dict(target="x86_64", module="app", code=bytes(32), toc_slots=2,
               syms=[("main", 0, F), ("data", 16, D)],
               imports=[("puts", 0, F), ("counter", 1, D)],
               relocs=[(0, "ABS64", 1, L, 0), (8, "ABS32", -1, L, 16), (12, "ABS32S", 1, L, 4),
                       (16, "PC32", 0, T, -4), (20, "PC32", 0, I, -4), (24, "ABS64", 1, T, 0)])
    i386 = dict(target="i386", module="app", code=bytes(16), toc_slots=1,
                syms=[("main", 0, F)], imports=[("puts", 0, F)],
                relocs=[(0, "ABS32", 0, L, 0), (4, "PC32", 0, I, -4), (8, "ABS32", 0, T, 0)])
    arm = dict(target="arm", module="lib", align=8, code=bytes.fromhex(
        "feffffeb" "feffffea" "000000e3" "000040e3" "1eff2fe1" "00000000"), toc_slots=1,
        syms=[("f", 0, F), ("v", 20, D)], imports=[("g", 0, F)],
        relocs=[(0, "ARM_CALL", 0, I, 0), (4, "ARM_JUMP24", 0, L, 0),
                (8, "ARM_MOVW_ABS_NC", 1, L, 0), (12, "ARM_MOVT_ABS", 1, L, 0),
                (20, "ABS32", 0, T, 0)])
    a64_code = bytes.fromhex(
        "00000094" "00000014" "00000054" "00000036" "00000090" "00000091"
        "00004039" "00004079" "000040b9" "000040f9" "0000c03d" "c0035fd6"
        "0000000000000000")
    a64 = dict(target="aarch64", module="lib", code=a64_code, toc_slots=3,
               syms=[("f", 0, F), ("d", 48, D)],
               imports=[("g", 2, F), ("h", 0, F), ("buf", 1, D)],
               relocs=[(0, "AARCH64_CALL26", 0, I, 0), (4, "AARCH64_JUMP26", 1, I, 0),
                       (8, "AARCH64_CONDBR19", 0, L, 0), (12, "AARCH64_TSTBR14", 0, L, 0),
                       (16, "AARCH64_ADR_PREL_PG_HI21", 2, T, 0),
                       (20, "AARCH64_ADD_ABS_LO12_NC", 1, L, 0),
                       (24, "AARCH64_LDST8_ABS_LO12_NC", 1, L, 0),
                       (28, "AARCH64_LDST16_ABS_LO12_NC", 1, L, 0),
                       (32, "AARCH64_LDST32_ABS_LO12_NC", 1, L, 0),
                       (36, "AARCH64_LDST64_ABS_LO12_NC", 1, L, 0),
                       (40, "AARCH64_LDST128_ABS_LO12_NC", 1, L, 0),
                       (48, "ABS64", 1, L, 8)])
    main_x86 = dict(target="x86_64", module="main", code=bytes.fromhex("b82a000000c3"),
                    syms=[("main", 0, F)])
    return [
        ("v2-modules-all-kinds.img", imgv2.build([x86, i386, arm, a64, main_x86])),
        ("v2-aarch64-kinds.img", imgv2.build([a64])),
        ("v2-arm-kinds.img", imgv2.build([arm])),
        ("v2-x86-imports.img", imgv2.build([x86, main_x86])),
        ("v2-empty.img", imgv2.build([])),
        ("v1-x86_64-reloc.img", v1_image("x86_64", bytes.fromhex(
            "48b80000000000000000" "8b00c3" "d2040000"), [("main", 0, F), ("data", 13, D)],
            [(2, 2, 1, 0)])),
    ]


ASM_TARGETS = {"x86_64": 0, "i386": 1, "arm": 2, "aarch64": 3}

ASM_EXTRA = {
    "x86_64-directives.s": ".intel_syntax noprefix\n.import f\n.globl main\nmain:\n"
    "  call QWORD PTR [rip + f@toc]\n  lea rax, [rip + data]\n  jmp f\n  .p2align 4\n"
    "data:\n  .byte 1, 2\n  .word 3\n  .long 4\n  .quad data\n  .balign 8\n",
    "i386-directives.s": ".intel_syntax noprefix\n.import f\n.globl main\nmain:\n"
    "  call DWORD PTR [f@toc]\n  mov eax, OFFSET data\n  mov eax, [data + 4]\n  ret\n"
    "data:\n  .long 1, 2\n",
    "arm-directives.s": ".syntax unified\n.arch armv7-a\n.fpu vfpv3-d16\n.arm\n.import f\n"
    ".globl main\nmain:\n  movw r0, #:lower16:data\n  movt r0, #:upper16:data\n"
    "  ldr r1, =0x12345678\n  ldr ip, =f@toc\n  bl f\n  bx lr\n  .ltorg\ndata:\n"
    "  .word 5\n",
    "aarch64-directives.s": ".arch armv8-a\n.import f\n.globl main\nmain:\n"
    "  adrp x0, data\n  add x0, x0, #:lo12:data\n  ldr x1, [x0, #:lo12:data]\n"
    "  adrp x16, f@toc\n  ldr x16, [x16, #:lo12:f@toc]\n  b f\n  .p2align 3\ndata:\n"
    "  .xword 7\n",
}


def asm_seeds(out):
    """Write the assembler's corpus into out; the number of files."""
    os.makedirs(out, exist_ok=True)
    n = 0
    for target, code in ASM_TARGETS.items():
        base = os.path.join(ROOT, "conformance", "programs", target)
        for src in sorted(glob.glob(os.path.join(base, "*.s")) +
                          glob.glob(os.path.join(base, "link", "*.s"))):
            kind = "link-" if os.path.basename(os.path.dirname(src)) == "link" else ""
            name = "%s-%s%s" % (target, kind, os.path.basename(src))
            with open(src, "rb") as f:
                text = f.read()
            with open(os.path.join(out, name), "wb") as f:
                f.write(bytes([code]) + text)
            n += 1
    for name, text in ASM_EXTRA.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([ASM_TARGETS[name.split("-")[0]]]) + text.encode())
        n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imago", help="the imago binary (for --out)")
    ap.add_argument("--out", help="the image corpus directory")
    ap.add_argument("--asm-out", help="the assembly corpus directory")
    args = ap.parse_args()
    if args.asm_out:
        print("make_seeds: %d seeds in %s" % (asm_seeds(args.asm_out), args.asm_out))
    if not args.out:
        return
    if not args.imago:
        sys.exit("make_seeds: --out needs --imago")
    os.makedirs(args.out, exist_ok=True)
    n = 0
    for src in sorted(glob.glob(os.path.join(ROOT, "conformance", "programs", "*", "*.s"))):
        target = os.path.basename(os.path.dirname(src))
        name = "%s-%s.img" % (target, os.path.splitext(os.path.basename(src))[0])
        out = os.path.join(args.out, name)
        p = subprocess.run([args.imago, "asm", "-a", target, src, "-o", out],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit("make_seeds: imago asm %s failed:\n%s" % (src, p.stderr))
        n += 1
    for name, data in handmade():
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        n += 1
    print("make_seeds: %d seeds in %s" % (n, args.out))


if __name__ == "__main__":
    main()
