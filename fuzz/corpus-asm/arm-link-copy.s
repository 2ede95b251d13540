@ copy (module "copy"): copy(dst, src, n) copies n bytes, a word at a time when both
@ pointers are word-aligned, then byte by byte, and returns dst (r0, r1, r2 -> r0).
@ tools/progs/progs.c passes buffers of its own with random lengths and alignments and
@ checks the bytes and the guards around them.
.syntax unified
.arm
.text
.globl copy
.type copy, %function
copy:
    mov ip, r0
    orr r3, r0, r1
    tst r3, #3
    bne cp_bytes
cp_words:
    cmp r2, #4
    blo cp_bytes
    ldr r3, [r1], #4
    str r3, [ip], #4
    sub r2, r2, #4
    b cp_words
cp_bytes:
    cmp r2, #0
    beq cp_done
    ldrb r3, [r1], #1
    strb r3, [ip], #1
    sub r2, r2, #1
    b cp_bytes
cp_done:
    bx lr
.size copy, .-copy
