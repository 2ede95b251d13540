# user (module "user"): calls module "prov" while prov is reloaded.
#   use_val(x)    = val(x) + 7, through the TOC
#   use_konst()   = konst(), a tail call through the TOC
#   use_direct(x) = val(x), a direct tail jump (re-applied at each reload of prov)
.intel_syntax noprefix
.text
.import val
.import konst

.globl use_val
.type use_val, @function
use_val:
    sub esp, 12
    mov eax, DWORD PTR [esp + 16]
    mov DWORD PTR [esp], eax
    call DWORD PTR [val@toc]
    add esp, 12
    add eax, 7
    ret
.size use_val, .-use_val

.globl use_konst
.type use_konst, @function
use_konst:
    jmp DWORD PTR [konst@toc]
.size use_konst, .-use_konst

.globl use_direct
.type use_direct, @function
use_direct:
    jmp val
.size use_direct, .-use_direct
