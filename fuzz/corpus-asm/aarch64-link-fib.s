// fib (module "fib"): Fibonacci numbers iteratively (wrapping at 64 bits) and recursively
// (x0 -> x0). Checked by tools/progs/progs.c against values computed in C.
.text
.globl fib_iter
.type fib_iter, %function
fib_iter:
    mov x1, #0
    mov x2, #1
fib_loop:
    cbz x0, fib_done
    add x3, x1, x2
    mov x1, x2
    mov x2, x3
    sub x0, x0, #1
    b fib_loop
fib_done:
    mov x0, x1
    ret
.size fib_iter, .-fib_iter

.globl fib_rec
.type fib_rec, %function
fib_rec:
    cmp x0, #2
    b.hs fr2
    ret
fr2:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    stp x19, x20, [sp, #16]
    mov x19, x0
    sub x0, x19, #1
    bl fib_rec
    mov x20, x0
    sub x0, x19, #2
    bl fib_rec
    add x0, x0, x20
    ldp x19, x20, [sp, #16]
    ldp x29, x30, [sp], #32
    ret
.size fib_rec, .-fib_rec
