# host (module "host"): calls into host functions the driver registers, and back (cdecl;
# the stack stays 16-byte aligned at each call, as the i386 System V ABI wants).
#   mul3_toc(a, b, c)    = host_mul3(a, b, c) + 1, through the TOC
#   mul3_direct(a, b, c) = host_mul3(a, b, c) + 2, a direct call (a veneer when far)
#   apply_sq(x)          = host_apply(sq, x) + 3: the host calls sq (this module) back;
#                          sq's address is an absolute (ABS32) relocation
#   sq(x)                = x * x
.intel_syntax noprefix
.text
.import host_mul3
.import host_apply

.globl mul3_toc
.type mul3_toc, @function
mul3_toc:
    sub esp, 12
    mov eax, DWORD PTR [esp + 16]
    mov DWORD PTR [esp], eax
    mov eax, DWORD PTR [esp + 20]
    mov DWORD PTR [esp + 4], eax
    mov eax, DWORD PTR [esp + 24]
    mov DWORD PTR [esp + 8], eax
    call DWORD PTR [host_mul3@toc]
    add esp, 12
    add eax, 1
    ret
.size mul3_toc, .-mul3_toc

.globl mul3_direct
.type mul3_direct, @function
mul3_direct:
    sub esp, 12
    mov eax, DWORD PTR [esp + 16]
    mov DWORD PTR [esp], eax
    mov eax, DWORD PTR [esp + 20]
    mov DWORD PTR [esp + 4], eax
    mov eax, DWORD PTR [esp + 24]
    mov DWORD PTR [esp + 8], eax
    call host_mul3
    add esp, 12
    add eax, 2
    ret
.size mul3_direct, .-mul3_direct

.globl apply_sq
.type apply_sq, @function
apply_sq:
    sub esp, 12
    mov eax, DWORD PTR [esp + 16]
    mov DWORD PTR [esp + 4], eax
    mov eax, OFFSET sq
    mov DWORD PTR [esp], eax
    call DWORD PTR [host_apply@toc]
    add esp, 12
    add eax, 3
    ret
.size apply_sq, .-apply_sq

sq:
    mov eax, DWORD PTR [esp + 4]
    imul eax, eax
    ret
