@ seed without the branch: 42 + 5. Uses r4 (callee-saved), saved and restored.
@ expect: 47
.syntax unified
.arm
.text
.globl main
.type main, %function
main:
    push {r4, lr}
    mov r4, #5
    mov r0, #42
    add r0, r0, r4
    pop {r4, pc}
.size main, .-main
