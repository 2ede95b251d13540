# even (module "even"): is_even(n) = n == 0 ? 1 : is_odd(n - 1), calling module "odd"
# through this module's TOC (a lazy slot until the first call).
.intel_syntax noprefix
.text
.import is_odd
.globl is_even
.type is_even, @function
is_even:
    test rdi, rdi
    jne ev_rec
    mov eax, 1
    ret
ev_rec:
    sub rsp, 8
    dec rdi
    call QWORD PTR [rip + is_odd@toc]
    add rsp, 8
    ret
.size is_even, .-is_even
