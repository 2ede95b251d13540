# odd (module "odd"): is_odd(n) = n == 0 ? 0 : is_even(n - 1), a direct call into module
# "even" (bound when this module is loaded, re-applied when "even" moves or is reloaded).
.intel_syntax noprefix
.text
.import is_even
.globl is_odd
.type is_odd, @function
is_odd:
    mov eax, DWORD PTR [esp + 4]
    test eax, eax
    jne od_rec
    xor eax, eax
    ret
od_rec:
    sub esp, 12
    dec eax
    mov DWORD PTR [esp], eax
    call is_even
    add esp, 12
    ret
.size is_odd, .-is_odd
