// align: code padded by .p2align as GNU as pads it (NOP words after a zero-filled partial
// word), executed through; data padding.
// expect: 99
.text
.globl main
.type main, %function
main:
    mov w0, #90
.p2align 4
    add w0, w0, #4
.p2align 8
    add w0, w0, #5
    ret
.size main, .-main
    .byte 1, 2, 3
.p2align 3
    .word 5
