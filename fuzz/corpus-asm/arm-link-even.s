@ even (module "even"): is_even(n) = n == 0 ? 1 : is_odd(n - 1), calling module "odd"
@ through this module's TOC (a lazy slot until the first call).
.syntax unified
.arm
.text
.import is_odd
.globl is_even
.type is_even, %function
is_even:
    cmp r0, #0
    moveq r0, #1
    bxeq lr
    push {r4, lr}
    sub r0, r0, #1
    ldr ip, =is_odd@toc
    ldr ip, [ip]
    blx ip
    pop {r4, pc}
.size is_even, .-is_even
.ltorg
