@ prov_b (module "prov", version B): val(x) = host_mul3(x, 5, 1) + 2 = 5x + 2 through this
@ module's own TOC (rebuilt at each reload), konst() = 2222. Larger than version A.
.syntax unified
.arm
.text
.import host_mul3
.globl val
.type val, %function
val:
    push {r4, lr}
    mov r1, #5
    mov r2, #1
    ldr ip, =host_mul3@toc
    ldr ip, [ip]
    blx ip
    add r0, r0, #2
    pop {r4, pc}
.size val, .-val

.globl konst
.type konst, %function
konst:
    movw r0, #2222
    bx lr
.size konst, .-konst
.ltorg
