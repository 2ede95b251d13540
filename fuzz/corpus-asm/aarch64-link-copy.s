// copy (module "copy"): copy(dst, src, n) copies n bytes, 8 at a time then byte by byte,
// and returns dst (x0, x1, x2 -> x0). tools/progs/progs.c passes buffers of its own with
// random lengths and alignments and checks the bytes and the guards around them.
.text
.globl copy
.type copy, %function
copy:
    mov x3, x0
cp_words:
    cmp x2, #8
    b.lo cp_bytes
    ldr x4, [x1], #8
    str x4, [x3], #8
    sub x2, x2, #8
    b cp_words
cp_bytes:
    cbz x2, cp_done
    ldrb w4, [x1], #1
    strb w4, [x3], #1
    sub x2, x2, #1
    b cp_bytes
cp_done:
    ret
.size copy, .-copy
