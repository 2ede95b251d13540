# prov_b (module "prov", version B): val(x) = host_mul3(x, 5, 1) + 2 = 5x + 2 through this
# module's own TOC (rebuilt at each reload), konst() = 2222. Larger than version A.
.intel_syntax noprefix
.text
.import host_mul3
.globl val
.type val, @function
val:
    sub esp, 12
    mov eax, DWORD PTR [esp + 16]
    mov DWORD PTR [esp], eax
    mov DWORD PTR [esp + 4], 5
    mov DWORD PTR [esp + 8], 1
    call DWORD PTR [host_mul3@toc]
    add esp, 12
    add eax, 2
    ret
.size val, .-val

.globl konst
.type konst, @function
konst:
    mov eax, 2222
    ret
.size konst, .-konst
