@ user (module "user"): calls module "prov" while prov is reloaded.
@   use_val(x)    = val(x) + 7, through the TOC
@   use_konst()   = konst(), a tail call through the TOC
@   use_direct(x) = val(x), a direct tail branch (re-applied at each reload of prov)
.syntax unified
.arm
.text
.import val
.import konst

.globl use_val
.type use_val, %function
use_val:
    push {r4, lr}
    movw ip, #:lower16:val@toc
    movt ip, #:upper16:val@toc
    ldr ip, [ip]
    blx ip
    add r0, r0, #7
    pop {r4, pc}
.size use_val, .-use_val

.globl use_konst
.type use_konst, %function
use_konst:
    ldr ip, =konst@toc
    ldr ip, [ip]
    bx ip
.size use_konst, .-use_konst

.globl use_direct
.type use_direct, %function
use_direct:
    b val
.size use_direct, .-use_direct
.ltorg
