# align: code padded by .p2align as GNU as pads it, executed through: multi-byte NOPs for
# short padding, a jump over long padding (from 88 bytes on x86_64, 21 on i386); data padding.
# expect: 99
.intel_syntax noprefix
.text
.globl main
.type main, @function
main:
    mov eax, 90
.p2align 4
    add eax, 4
.p2align 7
    add eax, 5
    ret
.size main, .-main
    .byte 1, 2, 3
.p2align 3
    .long 5
