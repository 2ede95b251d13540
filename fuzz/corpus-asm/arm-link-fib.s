@ fib (module "fib"): Fibonacci numbers iteratively (wrapping at 32 bits) and recursively
@ (r0 -> r0). Checked by tools/progs/progs.c against values computed in C.
.syntax unified
.arm
.text
.globl fib_iter
.type fib_iter, %function
fib_iter:
    mov r1, #0
    mov r2, #1
fib_loop:
    cmp r0, #0
    beq fib_done
    add r3, r1, r2
    mov r1, r2
    mov r2, r3
    sub r0, r0, #1
    b fib_loop
fib_done:
    mov r0, r1
    bx lr
.size fib_iter, .-fib_iter

.globl fib_rec
.type fib_rec, %function
fib_rec:
    cmp r0, #2
    bxlo lr
    push {r4, r5, r6, lr}
    mov r4, r0
    sub r0, r4, #1
    bl fib_rec
    mov r5, r0
    sub r0, r4, #2
    bl fib_rec
    add r0, r0, r5
    pop {r4, r5, r6, pc}
.size fib_rec, .-fib_rec
