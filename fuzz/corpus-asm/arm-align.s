@ align: code padded by .p2align as GNU as pads it, executed through: NOP words, and for
@ long padding NOPs for its low 6 bits of length then zero words (andeq r0, r0, r0); data padding.
@ expect: 99
.syntax unified
.arm
.text
.globl main
.type main, %function
main:
    mov r0, #90
.p2align 4
    add r0, r0, #4
.p2align 8
    add r0, r0, #5
    bx lr
.size main, .-main
    .byte 1, 2, 3
.p2align 3
    .word 5
