"""The second-opinion checks (conformance/test_disasm.py) can fail.

A planted vector file: the x86_64 vectors are made (with --per-form 30, to stay
quick), then the texts of a few vectors are changed while their bytes are kept
(another mnemonic, an immediate off by one, a branch target off by one), and the
file is put back under its own key, so the conformance run reads it as imago's
output. test_disasm must name each planted vector for objdump and for capstone,
and test_llvm_mc must name each too (llvm-mc assembles the changed text to other
bytes). The same run without the plant passes (the control).

Also: the normaliser's rules each keep what they must keep (a rule that erased a
difference would make the check blind), and docs/second-opinions.md lists every
known-difference class.
"""

import os
import re

import pytest

import harness
import secondop
from test_selftest import run_conformance

ARGS = "--per-form 30"
SEL = ["conformance/test_disasm.py", "-k", "x86_64"]

# (form, rewrite of the text): each keeps the bytes and changes the meaning.
PLANTS = [
    ("add_rm32_r32", lambda t: re.sub(r"^add ", "sub ", t)),
    ("add_eax_imm32", lambda t: re.sub(r"0x([0-9a-f]+)$",
                                       lambda m: hex(int(m.group(1), 16) + 1), t)),
    ("jmp_rel8", lambda t: re.sub(r"\.([-+])0x([0-9a-f]+)$",
                                  lambda m: ".%s0x%x" % (m.group(1), int(m.group(2), 16) + 1), t)),
]
PER_FORM = 2  # planted vectors per form (all shown: below the SHOW limit of a batch)


def _plant(path):
    """Rewrite PER_FORM vectors of each PLANTS form in place; returns [(vectors line,
    form, new text)]."""
    with open(path) as f:
        lines = f.read().split("\n")
    planted, done = [], {}
    for i, line in enumerate(lines):
        if i == 0 or not line or line.startswith("#"):
            continue
        form, text, hexstr = line.split("\t")
        for pform, rewrite in PLANTS:
            if form == pform and done.get(form, 0) < PER_FORM and hexstr:
                new = rewrite(text)
                assert new != text, (form, text)
                lines[i] = "\t".join([form, new, hexstr])
                done[form] = done.get(form, 0) + 1
                planted.append((i, form, new))  # file line i+1 is vectors line i
    assert sorted(done) == sorted(p[0] for p in PLANTS) and all(
        n == PER_FORM for n in done.values()), "forms to plant not found: %s" % done
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return planted


def test_planted_text_is_caught(imago_bin, tmp_path):
    if harness.missing_tools("x86_64") or secondop.llvm_mc() is None:
        pytest.skip("GNU x86_64 tools or llvm-mc not installed")
    if not os.path.exists(secondop.CAPDIS):
        pytest.fail("%s does not exist: run `make all`" % harness.rel(secondop.CAPDIS))
    vd = str(tmp_path / "vectors")
    env = {"IMAGO_VECTORS_DIR": vd, "IMAGO_VECTORS_ARGS": ARGS}

    rc0, out0, outcomes0 = run_conformance(str(tmp_path), SEL, env, name="control")
    assert rc0 == 0, "control: the second opinions fail on imago's own vectors:\n" + out0[-4000:]
    kinds = {t.split("[")[0] for t in outcomes0}
    assert kinds == {"test_disasm", "test_llvm_mc"} and all(
        o == "passed" for o in outcomes0.values()), outcomes0

    planted = _plant(os.path.join(vd, "x86_64.tsv"))
    rc, out, outcomes = run_conformance(str(tmp_path), SEL, env, name="planted")
    assert rc == 1, "the second opinions passed with planted texts %s:\n%s" % (planted,
                                                                                out[-4000:])
    for n, form, text in planted:
        head = r"^x86_64 form %s \(vectors line %d\): %s\n" % (re.escape(form), n,
                                                                 re.escape(text))
        for tool in ("objdump ", "capstone"):
            assert re.search(head + r"  bytes \(imago\): .*\n  %s: " % tool, out, re.M), \
                "%s's decoding of the planted %s (line %d) is not reported:\n%s" % (
                    tool.strip(), form, n, out[-6000:])
        assert re.search(head + r"  imago  : .*\n  llvm-mc: ", out, re.M), \
            "llvm-mc's bytes for the planted %s (line %d) are not reported:\n%s" % (
                form, n, out[-6000:])
    assert "reproduce: " in out
    assert any(t.startswith("test_disasm") and o == "failed" for t, o in outcomes.items())
    assert any(t.startswith("test_llvm_mc") and o == "failed" for t, o in outcomes.items())


# ---- the normaliser's rules --------------------------------------------------------

# (target, vector text, a decoder's output, the address the decoder placed it at):
# pairs each rule must make equal ...
SAME = [
    ("x86_64", "add eax, -0x37", "add    eax,0xffffffc9", 0),
    ("x86_64", "add rax, -0x4", "add rax, 0xfffffffffffffffc", 0),
    ("x86_64", "mov eax, DWORD PTR [rsi+r9*1]", "mov eax, dword ptr [rsi + r9]", 0),
    ("x86_64", "mov DWORD PTR [-0x80], 0x100", "mov    DWORD PTR ds:0xffffffffffffff80,0x100", 0),
    ("x86_64", "jmp .-0x7d", "jmp    14f <__iv_64+0x2>", 0x1cc),
    ("x86_64", "jmp .-0x7d", "jmp 0xffffffffffffff83", 0),
    ("i386", "jmp .-0x7d", "jmp 0xffffff83", 0),
    ("x86_64", "mov rax, 0x80000000", "movabs rax,0x80000000", 0),
    ("x86_64", "jz .+0x10", "je 0x10", 0),
    ("x86_64", "sal eax, 1", "shl eax,1", 0),
    ("x86_64", "rep stosd", "rep stos DWORD PTR es:[rdi],eax", 0),
    ("x86_64", "repz cmpsb", "repe cmpsb byte ptr [rsi], byte ptr es:[rdi]", 0),
    ("x86_64", "lea eax, DWORD PTR [rax+rbx]", "lea eax,[rax+rbx*1]", 0),
    ("x86_64", "mov eax, DWORD PTR [rbp]", "mov eax,DWORD PTR [rbp+0x0]", 0),
    ("i386", "mov eax, DWORD PTR [-0x1]", "mov eax,ds:0xffffffff", 0),
    ("x86_64", "xchg eax, ebx", "xchg   ebx,eax", 0),
    ("x86_64", "cmpsd xmm0, xmm1, 0x1", "cmpltsd xmm0,xmm1", 0),
    ("x86_64", "pushfq", "pushf", 0),
    ("i386", "pushfd", "pushf", 0),
    ("x86_64", "xlatb", "xlat   BYTE PTR ds:[rbx]", 0),
    ("arm", "movne r11, #0x18c00", "movne\tfp, #101376\t@ 0x18c00", 0),
    ("arm", "addne r9, lr, r0", "addne sb, lr, r0", 0),
    ("arm", "subcs r4, sp, #0xd30", "subhs r4, sp, #0xd30", 0),
    ("arm", "movmi r5, #0xc000001c", "movmi\tr5, #-1073741796\t@ 0xc000001c", 0),
    ("arm", "beq .-33554424", "beq #0xfe000008", 0),
    ("arm", "beq .-33554424", "beq\tfe000038 <__iv_31+0xfdffffbc>", 0x30),
    ("arm", "ldrcc r5, .-4087", "ldrlo r5, [pc, #-0xfff]", 0),
    ("arm", "pusheq {r0}", "streq r0, [sp, #-4]!", 0),
    ("arm", "pusheq {sp}", "stmfdeq\tsp!, {sp}", 0),
    ("arm", "popne {r0}", "ldrne r0, [sp], #4", 0),
    # ---- A32 mem (equal) ----
    ("arm", "ldmfdeq r1!, {r2, r3}", "ldmeq\tr1!, {r2, r3}", 0),
    ("arm", "stmea r0!, {r1}", "stmia r0!, {r1}", 0),
    ("arm", "stmfd sp!, {r4, lr}", "push {r4, lr}", 0),
    ("arm", "ldr r0, [r1]!", "ldr r0, [r1, #0]!", 0),
    ("arm", "ldrt r0, [r1]", "ldrt r0, [r1], #0", 0),
    ("arm", "ldrd r2, r3, [r4, #8]", "ldrd r2, [r4, #8]", 0),
    ("arm", "strexd r0, r2, r3, [r4]", "strexd r0, r2, [r4]", 0),
    # ---- A32 sys ----
    ("arm", "dmb", "dmb\tsy", 0),
    ("arm", "dmb #1", "dmb\toshld", 0),
    ("arm", "dmb nshst", "dmb\tunst", 0),
    ("arm", "dsb #0", "ssbb", 0),
    ("arm", "dsb #4", "pssbb", 0),
    ("arm", "dsb #12", "dfb", 0),
    ("arm", "isb", "isb sy", 0),
    ("arm", "nopeq", "nopeq\t{0}", 0),
    ("arm", "svcne #0xffffff", "svcne\t0x00ffffff", 0),
    ("arm", "bkpt", "bkpt\t0x0000", 0),
    ("arm", "udf", "udf\t#0", 0),
    ("arm", "mrs r0, APSR", "mrs\tr0, CPSR", 0),
    ("arm", "msr APSR_nzcvq, r1", "msr\tCPSR_f, r1", 0),
    ("arm", "msr APSR_g, #0x260", "msr\tCPSR_s, #608\t@ 0x260", 0),
    ("arm", "msrvs APSR_nzcvqg, r2", "msrvs\tCPSR_fs, r2", 0),
    ("arm", "blx .+33554438", "blx\t2000006 <__iv_0+0x2000006>", 0),
    # ---- end A32 sys ----
    # ---- A32 vfp ----
    ("arm", "vmov.f32 s0, #1.0", "vmov.f32\ts0, #112\t@ 0x3f800000  1.0", 0),
    ("arm", "vmovne.f32 s28, #24.0", "vmovne.f32 s28, #2.400000e+01", 0),
    ("arm", "vpushne {d16-d18}", "vpushne {d16, d17, d18}", 0),
    ("arm", "vaddcc.f32 s0, s1, s2", "vaddlo.f32 s0, s1, s2", 0),
    ("arm", "vmov s7, s3", "vmov.f32 s7, s3", 0),
    ("arm", "vcmp.f32 s0, #0", "vcmp.f32 s0, #0.0", 0),
    ("aarch64", "mov w0, #0x1", "movz w0, #0x1", 0),
    ("aarch64", "movz x1, #0x9c31, lsl #32", "mov\tx1, #0x9c3100000000 \t// #171734267330560", 0),
    ("aarch64", "mov x0, #-0x8000000000000000", "mov x0, #0x8000000000000000", 0),
    ("aarch64", "add w0, w9, #0xfd7000", "add w0, w9, #0xfd7, lsl #12", 0),
    ("aarch64", "sub w4, wzr, w2, lsr #7", "neg w4, w2, lsr #7", 0),
    ("aarch64", "add x4, sp, #0x0", "mov x4, sp", 0),
    ("aarch64", "b .+4", "b\ta8 <__iv_42>", 0xa4),
    ("aarch64", "ldr w0, .+0", "ldr w0, #0", 0),
    ("aarch64", "ldr w1, [x16, #14728]", "ldr w1, [x16, #0x3988]", 0),
    # AArch64 FP scalar: FP constants as values, condition operands hs/lo
    ("aarch64", "fmov d3, #-0.40625", "fmov\td3, #-4.062500000000000000e-01", 0),
    ("aarch64", "fmov s1, #31.0", "fmov s1, #31.00000000", 0),
    ("aarch64", "fcmp d0, #0.0", "fcmp d0, #0.0e0", 0),
    ("aarch64", "fccmp s3, s19, #1, cc", "fccmp s3, s19, #1, lo", 0),
    # AArch64 loads/stores, branches, system (begin)
    ("aarch64", "ldr x0, [x1, #4]", "ldur\tx0, [x1, #4]", 0),
    ("aarch64", "ldrb w2, [sp, #-1]", "ldurb w2, [sp, #-1]", 0),
    ("aarch64", "prfm pldl1keep, [x1, #-8]", "prfum pldl1keep, [x1, #-8]", 0),
    ("aarch64", "strb w0, [x4], #-1", "strb w0, [x4], #0xffffffffffffffff", 0),
    ("aarch64", "tbz x0, #5, .+8", "tbz\tw0, #5, 10 <__iv_2>", 8),
    ("aarch64", "dsb #0", "ssbb", 0),
    ("aarch64", "b.nv .+0", "b.nv\tf4 <__iv_61>", 0xf4),
    # adrp: `.+N` at pc = 0 is the page of N; a decoder's page is relative to its
    # address's page (objdump placed the bytes at 0x1234: page 0x1000)
    ("aarch64", "adrp x0, .+0x1fff", "adrp\tx0, 2000 <__iv_9+0xdcc>", 0x1234),
    ("aarch64", "adrp x0, .-0x1", "adrp\tx0, 0x0", 0x1234),
    ("aarch64", "adrp x30, .+0xffffffff", "adrp x30, #0xfffff000", 0),
    # AArch64 loads/stores, branches, system (end)
    # ---- AArch64 Advanced SIMD ----
    ("aarch64", "ld1 {v0.4s, v1.4s, v2.4s}, [x0]", "ld1\t{v0.4s-v2.4s}, [x0]", 0),
    ("aarch64", "dup v0.16b, v7.b[13]", "dup v0.16b, v7.b[0xd]", 0),
    ("aarch64", "ins v0.s[1], w2", "mov\tv0.s[1], w2", 0),
    ("aarch64", "mov v0.s[1], v3.s[0]", "ins v0.s[1], v3.s[0]", 0),
    ("aarch64", "not v0.16b, v1.16b", "mvn\tv0.16b, v1.16b", 0),
    ("aarch64", "dup b0, v1.b[3]", "mov\tb0, v1.b[3]", 0),
    ("aarch64", "umov w0, v1.s[1]", "mov\tw0, v1.s[1]", 0),
    ("aarch64", "orr v0.8b, v1.8b, v1.8b", "mov\tv0.8b, v1.8b", 0),
    # -- AArch64 data processing: aliases read as their base instruction --
    ("aarch64", "subs xzr, x3, x4, lsl #2", "cmp x3, x4, lsl #2", 0),
    ("aarch64", "ands wzr, w1, #0xff", "tst w1, #0xff", 0),
    ("aarch64", "orn x1, xzr, x2, ror #3", "mvn x1, x2, ror #3", 0),
    ("aarch64", "orr x15, xzr, x27", "mov\tx15, x27", 0),
    ("aarch64", "ubfm w1, w2, #29, #28", "lsl w1, w2, #3", 0),
    ("aarch64", "lsl x1, x2, #0", "lsr x1, x2, #0", 0),
    ("aarch64", "ubfiz x1, x2, #4, #8", "ubfm x1, x2, #60, #7", 0),
    ("aarch64", "sbfx w1, w2, #4, #8", "sbfm w1, w2, #4, #11", 0),
    ("aarch64", "bfm w4, wzr, #22, #0", "bfc w4, #10, #1", 0),
    ("aarch64", "sxtb x1, w2", "sbfm x1, x2, #0, #7", 0),
    ("aarch64", "uxtb x1, w2", "uxtb w1, w2", 0),
    ("aarch64", "extr w1, w2, w2, #5", "ror w1, w2, #5", 0),
    ("aarch64", "csinc x1, xzr, xzr, ne", "cset x1, eq", 0),
    ("aarch64", "csneg w1, w2, w2, cc", "cneg w1, w2, hs", 0),
    ("aarch64", "madd x1, x2, x3, xzr", "mul x1, x2, x3", 0),
    ("aarch64", "umsubl x1, w2, w3, xzr", "umnegl x1, w2, w3", 0),
    ("aarch64", "sbcs w1, wzr, w2", "ngcs w1, w2", 0),
    ("aarch64", "lslv x1, x2, x3", "lsl x1, x2, x3", 0),
    ("aarch64", "mov w1, #0xffff0001", "movn w1, #0xfffe", 0),
    ("aarch64", "mov x1, #0x5555555555555555", "orr x1, xzr, #0x5555555555555555", 0),
    ("aarch64", "add x1, x2, #-0x10", "sub x1, x2, #0x10", 0),
    ("aarch64", "cmp w1, #-0x1, lsl #12", "cmn w1, #0x1, lsl #12", 0),
    ("aarch64", "add sp, x1, x2, lsl #2", "add sp, x1, x2, uxtx #2", 0),
    ("aarch64", "add x0, sp, w1", "add x0, sp, w1, uxtw", 0),
    ("aarch64", "add x0, x1, x2, uxtw #0", "add x0, x1, w2, uxtw", 0),
    ("aarch64", "add x0, x1, w2, sxtx #3", "add x0, x1, x2, sxtx #3", 0),
    ("aarch64", "ccmp x1, #0x3, #0x2, cs", "ccmp x1, #3, #2, hs", 0),
    # -- end AArch64 data processing --
    # ---- A32 dp ----
    ("arm", "mov r0, #0xffffff00", "mvn\tr0, #255\t@ 0xff", 0),
    ("arm", "mvnseq r1, #0xfffffffe", "movseq r1, #1", 0),
    ("arm", "and r0, r1, #0xffffff00", "bic r0, r1, #0xff", 0),
    ("arm", "adcs r2, r3, #-1", "sbcs r2, r3, #0", 0),
    ("arm", "add r0, r1, #-8", "sub r0, r1, #8", 0),
    ("arm", "cmp r0, #-1", "cmn r0, #1", 0),
    ("arm", "add r0, pc, #0xff000000", "sub\tr0, pc, #16777216\t@ 0x1000000", 0),
    ("arm", "adds r0, pc, #0xff000000", "adds\tr0, pc, #-16777216\t@ 0xff000000", 0),
    ("arm", "movne r0, #0x1234", "movwne\tr0, #4660\t@ 0x1234", 0),
    ("arm", "mov r0, r1, lsl #2", "lsl\tr0, r1, #2", 0),
    ("arm", "movs r0, r1, lsr #32", "lsrs r0, r1, #32", 0),
    ("arm", "movgt r0, r1, rrx", "rrxgt r0, r1", 0),
    ("arm", "mov r0, r1, ror r2", "ror r0, r1, r2", 0),
    ("arm", "lsl r0, r1, #0", "mov r0, r1", 0),
    ("arm", "add r0, r1, r2, asl #3", "add r0, r1, r2, lsl #3", 0),
    ("arm", "add r0, r1, r2, lsl #0", "add r0, r1, r2", 0),
    ("arm", "add r0, r1, r2, ror #0", "add r0, r1, r2", 0),
    ("arm", "eor r0, r1, r2, asl r3", "eor r0, r1, r2, lsl r3", 0),
    # ---- A32 dp (end) ----
    # ---- A32 misc ----
    ("arm", "movw r0, #65535", "movw\tr0, #65535\t@ 0xffff", 0),
    ("arm", "movtne r12, #4660", "movtne\tip, #4660\t@ 0x1234", 0),
    ("arm", "uxtab r10, r11, r12, ror #8", "uxtab\tsl, fp, ip, ror #8", 0),
    ("arm", "ubfxcs r0, r9, #4, #28", "ubfxhs r0, sb, #0x4, #0x1c", 0),
    ("arm", "umlalscc r0, r1, r2, r3", "umlalslo r0, r1, r2, r3", 0),
    ("arm", "pkhtbeq lr, r3, r2", "pkhbteq\tlr, r2, r3", 0),
    # ---- end A32 misc ----
]
# ... and pairs that must stay different (what each rule must not erase).
DIFFERENT = [
    # adrp one page off (the page of the decoder's address counts, not the address)
    ("aarch64", "adrp x0, .+0x1000", "adrp\tx0, 3000", 0x1234),
    ("aarch64", "adrp x0, .+0x1000", "adrp x0, #0x0", 0),
    ("x86_64", "add eax, 0x37", "add eax,0x38", 0),
    ("x86_64", "add rax, 0xffffffff", "add rax,0xffffffffffffffff", 0),
    ("x86_64", "add eax, ebx", "add eax,ecx", 0),
    ("x86_64", "add eax, ebx", "sub eax,ebx", 0),
    ("x86_64", "mov eax, DWORD PTR [rsi+r9*2]", "mov eax, dword ptr [rsi + r9]", 0),
    ("x86_64", "mov eax, DWORD PTR [rsi-0x10]", "mov eax, dword ptr [rsi + 0x10]", 0),
    ("x86_64", "mov DWORD PTR [rax], 0x1", "mov WORD PTR [rax],0x1", 0),
    ("x86_64", "jmp .-0x7d", "jmp 0xffffffffffffff83", 1),
    ("x86_64", "jmp .+0x10", "jmp 0x10", 0x10),
    ("x86_64", "jz .+0x10", "jne 0x10", 0),
    ("x86_64", "rep stosd", "rep stos WORD PTR es:[rdi],ax", 0),
    ("x86_64", "lock add DWORD PTR [rax], 0x1", "add DWORD PTR [rax],0x1", 0),
    ("x86_64", "mov eax, DWORD PTR [rbp]", "mov eax,DWORD PTR [rbp+0x1]", 0),
    ("x86_64", "xchg eax, ebx", "xchg ecx,eax", 0),
    ("x86_64", "cmpsd xmm0, xmm1, 0x2", "cmpltsd xmm0,xmm1", 0),
    ("arm", "movne r11, #0x18c00", "movne r10, #0x18c00", 0),
    ("arm", "subcs r4, sp, #0xd30", "subcc r4, sp, #0xd30", 0),
    ("arm", "str r4, [r1, #-2090]", "str r4, [r1, #0x82a]", 0),
    ("arm", "beq .-33554424", "beq #0xfe00000c", 0),
    ("arm", "ldrcc r5, .-4087", "ldrcc r5, [pc, #-4087]", 0),
    ("arm", "pusheq {r0}", "streq r0, [sp, #-8]!", 0),
    # ---- A32 mem (different) ----
    ("arm", "ldmfd r1!, {r2, r3}", "ldmdb r1!, {r2, r3}", 0),
    ("arm", "stmfa r0, {r1}", "stmia r0, {r1}", 0),
    ("arm", "ldr r0, [r1]!", "ldr r0, [r1, #4]!", 0),
    ("arm", "ldrt r0, [r1]", "ldrt r0, [r1], #4", 0),
    ("arm", "ldrd r2, r3, [r4, #8]", "ldrd r4, [r4, #8]", 0),
    ("arm", "ldr r0, [r1, -r2, lsl #3]", "ldr r0, [r1, r2, lsl #3]", 0),
    # ---- A32 sys ----
    ("arm", "dmb", "dmb\tst", 0),
    ("arm", "dmb #1", "dmb\tosh", 0),
    ("arm", "dsb #0", "pssbb", 0),
    ("arm", "dmb #0", "ssbb", 0),
    ("arm", "isb", "isb #0", 0),
    ("arm", "nopeq", "nopeq\t{1}", 0),
    ("arm", "svc #0xffffff", "svc\t0x00fffffe", 0),
    ("arm", "bkpt", "bkpt\t0x0001", 0),
    ("arm", "mrs r0, APSR", "mrs\tr0, SPSR", 0),
    ("arm", "msr APSR_nzcvq, r1", "msr\tCPSR_s, r1", 0),
    ("arm", "msr APSR_nzcvq, r1", "msr\tSPSR_f, r1", 0),
    ("arm", "blx .+33554438", "blx\t2000004 <__iv_0+0x2000004>", 0),
    # ---- end A32 sys ----
    # ---- A32 vfp ----
    ("arm", "vmov.f32 s0, #1.0", "vmov.f32 s0, #113", 0),
    ("arm", "vpushne {d16-d18}", "vpushne {d16, d17, d19}", 0),
    ("arm", "vaddcc.f32 s0, s1, s2", "vaddhs.f32 s0, s1, s2", 0),
    ("aarch64", "movz x1, #0x9c31, lsl #32", "mov x1, #0x9c3100000000, lsl #16", 0),
    ("aarch64", "add w0, w9, #0xfd7000", "add w0, w9, #0xfd7", 0),
    ("aarch64", "sub w4, wzr, w2, lsr #7", "neg w4, w2, lsl #7", 0),
    ("aarch64", "ldr w0, .+0", "ldr w0, #4", 0),
    ("aarch64", "ldr w1, [x16, #14728]", "ldr w1, [x16, #0x3980]", 0),
    ("aarch64", "fmov d3, #-0.40625", "fmov d3, #4.062500000000000000e-01", 0),
    ("aarch64", "fmov s1, #31.0", "fmov s1, #3.100000000000000000e+00", 0),
    ("aarch64", "fmov s1, #1.0", "fmov s1, #0x1", 0),
    ("aarch64", "fccmp s3, s19, #1, cc", "fccmp s3, s19, #1, hs", 0),
    # AArch64 loads/stores, branches, system (begin)
    ("aarch64", "ldr x0, [x1, #8]", "ldur x0, [x1, #8]", 0),
    ("aarch64", "ldr w0, [x1, #8]", "ldur w0, [x1, #8]", 0),
    ("aarch64", "strb w0, [x4], #-1", "strb w0, [x4], #0xff", 0),
    ("aarch64", "tbz x0, #37, .+8", "tbz w0, #37, 10 <__iv_2>", 8),
    ("aarch64", "dsb #4", "ssbb", 0),
    ("aarch64", "b.nv .+4", "b.nv\tf4 <__iv_61>", 0xf4),
    # AArch64 loads/stores, branches, system (end)
    # ---- AArch64 Advanced SIMD ----
    ("aarch64", "ld1 {v0.4s, v1.4s, v2.4s}, [x0]", "ld1 {v0.4s-v3.4s}, [x0]", 0),
    ("aarch64", "ld1 {v30.4s, v31.4s, v0.4s}, [x0]", "ld1 {v0.4s-v2.4s}, [x0]", 0),
    ("aarch64", "dup v0.16b, v7.b[13]", "dup v0.16b, v7.b[0xc]", 0),
    ("aarch64", "umov w0, v1.b[1]", "mov w0, v1.s[1]", 0),
    ("aarch64", "umov w0, v1.h[1]", "mov w0, v1.h[1]", 0),
    ("aarch64", "orr v0.8b, v1.8b, v2.8b", "mov v0.8b, v1.8b", 0),
    ("aarch64", "dup v0.4s, v1.s[1]", "mov v0.4s, v1.s[1]", 0),
    # -- AArch64 data processing: aliases read as their base instruction --
    ("aarch64", "subs xzr, x3, x4, lsl #2", "cmn x3, x4, lsl #2", 0),
    ("aarch64", "ubfm w1, w2, #29, #28", "lsl w1, w2, #4", 0),
    ("aarch64", "ubfm w1, w2, #29, #28", "lsr w1, w2, #3", 0),
    ("aarch64", "ubfiz x1, x2, #4, #8", "ubfx x1, x2, #4, #8", 0),
    ("aarch64", "sxtb x1, w2", "sxth x1, w2", 0),
    ("aarch64", "orr x15, xzr, x27", "mov x15, x26", 0),
    ("aarch64", "csinc x1, xzr, xzr, ne", "cset x1, ne", 0),
    ("aarch64", "csinc x1, x2, x2, ne", "cinc x1, x3, eq", 0),
    ("aarch64", "madd x1, x2, x3, xzr", "mneg x1, x2, x3", 0),
    ("aarch64", "mov w1, #0xffff0001", "movn w1, #0xfffe, lsl #16", 0),
    ("aarch64", "add x1, x2, #-0x10", "add x1, x2, #0x10", 0),
    ("aarch64", "add x1, x2, x3, lsl #2", "add x1, x2, x3, uxtx #2", 0),
    ("aarch64", "add x0, sp, w1", "add x0, sp, w1, sxtw", 0),
    ("aarch64", "add x0, x1, w2, uxtw #1", "add x0, x1, w2, uxtw #2", 0),
    # -- end AArch64 data processing --
    # ---- A32 dp ----
    ("arm", "mov r0, #0xff", "mvn r0, #0xff", 0),
    ("arm", "and r0, r1, #0xffffff00", "bic r0, r1, #0xfe", 0),
    ("arm", "add r0, r1, #-8", "add r0, r1, #8", 0),
    ("arm", "adds r0, pc, #0xff000000", "subs r0, pc, #0x1000000", 0),
    ("arm", "add r0, pc, #0x7f000000", "sub r0, pc, #0x81000000", 0),
    ("arm", "orr r0, r1, #0xffffff00", "orn r0, r1, #0xff", 0),
    ("arm", "movs r0, #0x1234", "movw r0, #0x1234", 0),
    ("arm", "mov r0, r1, lsl #2", "lsl r0, r1, #3", 0),
    ("arm", "mov r0, r1, lsr #2", "asr r0, r1, #2", 0),
    ("arm", "movs r0, r1, rrx", "rrx r0, r1", 0),
    ("arm", "mov r0, r1, ror r2", "ror r0, r2, r1", 0),
    ("arm", "add r0, r1, r2, ror #1", "add r0, r1, r2, rrx", 0),
    ("arm", "add r0, r1, r2, lsl r3", "add r0, r1, r2, lsl #3", 0),
    # ---- A32 dp (end) ----
    # ---- A32 misc ----
    ("arm", "usat r5, #29, r8, asr #32", "usat\tr5, #29, r8, asr #0", 0),
    ("arm", "usat r5, #29, r8, asr #1", "usat r5, #29, r8, lsl #1", 0),
    ("arm", "uxtb r0, r1, ror #8", "uxtb r0, r1, ror #16", 0),
    ("arm", "uxtb r0, r1, ror #8", "uxtb r0, r1", 0),
    ("arm", "bfi r0, r1, #4, #8", "bfi r0, r1, #4, #9", 0),
    ("arm", "umull r0, r1, r2, r3", "umull r1, r0, r2, r3", 0),
    ("arm", "muls r0, r1, r2", "mul r0, r1, r2", 0),
    ("arm", "ssat r0, #1, r1", "ssat r0, #2, r1", 0),
    ("arm", "sxtab16 r0, r1, r2", "sxtb16 r0, r2", 0),
    ("arm", "pkhtbeq lr, r3, r2", "pkhbteq lr, r3, r2", 0),
    ("arm", "pkhtb lr, r3, r2, asr #1", "pkhbt lr, r2, r3, lsl #1", 0),
    ("arm", "qadd r0, r1, r2", "qadd r0, r2, r1", 0),
    # ---- end A32 misc ----
]


@pytest.mark.parametrize("target,text,decoded,addr", SAME)
def test_normaliser_equates(target, text, decoded, addr):
    ok, a, b = secondop.same(target, text, decoded, addr)
    assert ok, "%r and %r normalise to %r and %r" % (text, decoded, a, b)


@pytest.mark.parametrize("target,text,decoded,addr", DIFFERENT)
def test_normaliser_keeps_differences(target, text, decoded, addr):
    ok, a, b = secondop.same(target, text, decoded, addr)
    assert not ok, "%r and %r both normalise to %r" % (text, decoded, a)


def test_docs_list_every_class():
    with open(os.path.join(harness.ROOT, "docs", "second-opinions.md")) as f:
        doc = f.read()
    missing = [c.id for c in secondop.all_classes() if "`%s`" % c.id not in doc]
    assert not missing, "docs/second-opinions.md does not list: %s" % ", ".join(missing)


# ---- A32 misc ----
def test_a32_sat_asr32_class():
    """objdump-a32-sat-asr32 takes objdump's `asr #0` for usat/ssat asr #32, and only it."""
    cls = [c for c in secondop.DECODER_CLASSES if c.id == "objdump-a32-sat-asr32"]
    assert len(cls) == 1
    m = cls[0].match
    assert m("arm", "usatle r5, #29, r8, asr #32", "5850fdd6", [(4, "usatle\tr5, #29, r8, asr #0")])
    assert m("arm", "ssat r0, #5, r1, asr #32", "5100a4e6", [(4, "ssat\tr0, #5, r1, asr #0")])
    # another amount, another register, lsl #0 bytes, another instruction: not the class
    assert not m("arm", "usatle r5, #29, r8, asr #31", "5850fdd6", [(4, "usatle r5, #29, r8, asr #0")])
    assert not m("arm", "usatle r5, #29, r9, asr #32", "5850fdd6", [(4, "usatle r5, #29, r8, asr #0")])
    assert not m("arm", "usatle r5, #29, r8", "1850fdd6", [(4, "usatle r5, #29, r8, asr #0")])
    assert not m("arm", "ubfx r0, r1, #0, #1", "5100e0e7", [(4, "ubfx r0, r1, #0, #0")])
# ---- end A32 misc ----
