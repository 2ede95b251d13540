@ host (module "host"): calls into host functions the driver registers, and back.
@   mul3_toc(a, b, c)    = host_mul3(a, b, c) + 1, through the TOC (movw/movt of the slot)
@   mul3_direct(a, b, c) = host_mul3(a, b, c) + 2, a direct bl (a veneer when far)
@   apply_sq(x)          = host_apply(sq, x) + 3: the host calls sq (this module) back;
@                          sq's address by movw/movt, the slot's from a literal pool
@   sq(x)                = x * x
.syntax unified
.arm
.text
.import host_mul3
.import host_apply

.globl mul3_toc
.type mul3_toc, %function
mul3_toc:
    push {r4, lr}
    movw ip, #:lower16:host_mul3@toc
    movt ip, #:upper16:host_mul3@toc
    ldr ip, [ip]
    blx ip
    add r0, r0, #1
    pop {r4, pc}
.size mul3_toc, .-mul3_toc

.globl mul3_direct
.type mul3_direct, %function
mul3_direct:
    push {r4, lr}
    bl host_mul3
    add r0, r0, #2
    pop {r4, pc}
.size mul3_direct, .-mul3_direct

.globl apply_sq
.type apply_sq, %function
apply_sq:
    push {r4, lr}
    mov r1, r0
    movw r0, #:lower16:sq
    movt r0, #:upper16:sq
    ldr ip, =host_apply@toc
    ldr ip, [ip]
    blx ip
    add r0, r0, #3
    pop {r4, pc}
.size apply_sq, .-apply_sq

sq:
    mul r1, r0, r0
    mov r0, r1
    bx lr
.ltorg
