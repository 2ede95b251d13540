// host (module "host"): calls into host functions the driver registers, and back.
//   mul3_toc(a, b, c)    = host_mul3(a, b, c) + 1, through the TOC (adrp + ldr :lo12:)
//   mul3_direct(a, b, c) = host_mul3(a, b, c) + 2, a direct bl (a veneer when far)
//   apply_sq(x)          = host_apply(sq, x) + 3: the host calls sq (this module) back;
//                          sq's address by adrp + add :lo12:
//   sq(x)                = x * x
.text
.import host_mul3
.import host_apply

.globl mul3_toc
.type mul3_toc, %function
mul3_toc:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    adrp x16, host_mul3@toc
    ldr x16, [x16, #:lo12:host_mul3@toc]
    blr x16
    add x0, x0, #1
    ldp x29, x30, [sp], #16
    ret
.size mul3_toc, .-mul3_toc

.globl mul3_direct
.type mul3_direct, %function
mul3_direct:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    bl host_mul3
    add x0, x0, #2
    ldp x29, x30, [sp], #16
    ret
.size mul3_direct, .-mul3_direct

.globl apply_sq
.type apply_sq, %function
apply_sq:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x1, x0
    adrp x0, sq
    add x0, x0, #:lo12:sq
    adrp x16, host_apply@toc
    ldr x16, [x16, #:lo12:host_apply@toc]
    blr x16
    add x0, x0, #3
    ldp x29, x30, [sp], #16
    ret
.size apply_sq, .-apply_sq

sq:
    mul x0, x0, x0
    ret
