# prov_b (module "prov", version B): val(x) = host_mul3(x, 5, 1) + 2 = 5x + 2 through this
# module's own TOC (rebuilt at each reload), konst() = 2222. Larger than version A.
.intel_syntax noprefix
.text
.import host_mul3
.globl val
.type val, @function
val:
    sub rsp, 8
    mov esi, 5
    mov edx, 1
    call QWORD PTR [rip + host_mul3@toc]
    add rsp, 8
    add rax, 2
    ret
.size val, .-val

.globl konst
.type konst, @function
konst:
    mov eax, 2222
    ret
.size konst, .-konst
