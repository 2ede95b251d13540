# odd (module "odd"): is_odd(n) = n == 0 ? 0 : is_even(n - 1), a direct call into module
# "even" (bound when this module is loaded, re-applied when "even" moves or is reloaded).
.intel_syntax noprefix
.text
.import is_even
.globl is_odd
.type is_odd, @function
is_odd:
    test rdi, rdi
    jne od_rec
    xor eax, eax
    ret
od_rec:
    sub rsp, 8
    dec rdi
    call is_even
    add rsp, 8
    ret
.size is_odd, .-is_odd
