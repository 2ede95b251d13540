// odd (module "odd"): is_odd(n) = n == 0 ? 0 : is_even(n - 1), a direct bl into module
// "even" (bound when this module is loaded, re-applied when "even" moves or is reloaded).
.text
.import is_even
.globl is_odd
.type is_odd, %function
is_odd:
    cbz x0, od_done
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    sub x0, x0, #1
    bl is_even
    ldp x29, x30, [sp], #16
od_done:
    ret
.size is_odd, .-is_odd
