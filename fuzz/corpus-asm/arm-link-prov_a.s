@ prov_a (module "prov", version A): val(x) = 3x + 1 after a short delay loop (so callers
@ are often inside it when it is reloaded), konst() = 1111.
.syntax unified
.arm
.text
.globl val
.type val, %function
val:
    mov r1, #32
pv_loop:
    subs r1, r1, #1
    bne pv_loop
    add r0, r0, r0, lsl #1
    add r0, r0, #1
    bx lr
.size val, .-val

.globl konst
.type konst, %function
konst:
    movw r0, #1111
    bx lr
.size konst, .-konst
