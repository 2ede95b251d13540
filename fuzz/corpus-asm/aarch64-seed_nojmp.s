// seed without the branch: 42 + 5. Uses x29 (callee-saved) as the frame
// pointer, saved and restored with the link register.
// expect: 47
.text
.globl main
.type main, %function
main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov w0, #42
    mov w1, #5
    add w0, w0, w1
    ldp x29, x30, [sp], #16
    ret
.size main, .-main
