# host (module "host"): calls into host functions the driver registers, and back.
#   mul3_toc(a, b, c)    = host_mul3(a, b, c) + 1, through the TOC
#   mul3_direct(a, b, c) = host_mul3(a, b, c) + 2, a direct call (a veneer when far)
#   apply_sq(x)          = host_apply(sq, x) + 3: the host calls sq (this module) back
#   sq(x)                = x * x
.intel_syntax noprefix
.text
.import host_mul3
.import host_apply

.globl mul3_toc
.type mul3_toc, @function
mul3_toc:
    sub rsp, 8
    call QWORD PTR [rip + host_mul3@toc]
    add rsp, 8
    add rax, 1
    ret
.size mul3_toc, .-mul3_toc

.globl mul3_direct
.type mul3_direct, @function
mul3_direct:
    sub rsp, 8
    call host_mul3
    add rsp, 8
    add rax, 2
    ret
.size mul3_direct, .-mul3_direct

.globl apply_sq
.type apply_sq, @function
apply_sq:
    sub rsp, 8
    mov rsi, rdi
    lea rdi, [rip + sq]
    call QWORD PTR [rip + host_apply@toc]
    add rsp, 8
    add rax, 3
    ret
.size apply_sq, .-apply_sq

sq:
    mov rax, rdi
    imul rax, rdi
    ret
