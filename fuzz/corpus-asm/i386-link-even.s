# even (module "even"): is_even(n) = n == 0 ? 1 : is_odd(n - 1), calling module "odd"
# through this module's TOC (a lazy slot until the first call).
.intel_syntax noprefix
.text
.import is_odd
.globl is_even
.type is_even, @function
is_even:
    mov eax, DWORD PTR [esp + 4]
    test eax, eax
    jne ev_rec
    mov eax, 1
    ret
ev_rec:
    sub esp, 12
    dec eax
    mov DWORD PTR [esp], eax
    call DWORD PTR [is_odd@toc]
    add esp, 12
    ret
.size is_even, .-is_even
