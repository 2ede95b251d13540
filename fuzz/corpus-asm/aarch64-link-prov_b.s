// prov_b (module "prov", version B): val(x) = host_mul3(x, 5, 1) + 2 = 5x + 2 through this
// module's own TOC (rebuilt at each reload), konst() = 2222. Larger than version A.
.text
.import host_mul3
.globl val
.type val, %function
val:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x1, #5
    mov x2, #1
    adrp x16, host_mul3@toc
    ldr x16, [x16, #:lo12:host_mul3@toc]
    blr x16
    add x0, x0, #2
    ldp x29, x30, [sp], #16
    ret
.size val, .-val

.globl konst
.type konst, %function
konst:
    mov x0, #2222
    ret
.size konst, .-konst
