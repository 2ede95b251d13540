@ seed: mov 42, branch over an add, return 42. Uses r4 (callee-saved), saved and restored.
@ expect: 42
.syntax unified
.arm
.text
.globl main
.type main, %function
main:
    push {r4, lr}
    mov r4, #5
    mov r0, #42
    b end
    add r0, r0, r4
end:
    pop {r4, pc}
.size main, .-main
