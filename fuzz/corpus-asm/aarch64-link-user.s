// user (module "user"): calls module "prov" while prov is reloaded.
//   use_val(x)    = val(x) + 7, through the TOC
//   use_konst()   = konst(), a tail call through the TOC
//   use_direct(x) = val(x), a direct tail branch (re-applied at each reload of prov)
.text
.import val
.import konst

.globl use_val
.type use_val, %function
use_val:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    adrp x16, val@toc
    ldr x16, [x16, #:lo12:val@toc]
    blr x16
    add x0, x0, #7
    ldp x29, x30, [sp], #16
    ret
.size use_val, .-use_val

.globl use_konst
.type use_konst, %function
use_konst:
    adrp x16, konst@toc
    ldr x16, [x16, #:lo12:konst@toc]
    br x16
.size use_konst, .-use_konst

.globl use_direct
.type use_direct, %function
use_direct:
    b val
.size use_direct, .-use_direct
