// even (module "even"): is_even(n) = n == 0 ? 1 : is_odd(n - 1), calling module "odd"
// through this module's TOC (a lazy slot until the first call).
.text
.import is_odd
.globl is_even
.type is_even, %function
is_even:
    cbnz x0, ev_rec
    mov x0, #1
    ret
ev_rec:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    sub x0, x0, #1
    adrp x16, is_odd@toc
    ldr x16, [x16, #:lo12:is_odd@toc]
    blr x16
    ldp x29, x30, [sp], #16
    ret
.size is_even, .-is_even
