@ odd (module "odd"): is_odd(n) = n == 0 ? 0 : is_even(n - 1), a direct bl into module
@ "even" (bound when this module is loaded, re-applied when "even" moves or is reloaded).
.syntax unified
.arm
.text
.import is_even
.globl is_odd
.type is_odd, %function
is_odd:
    cmp r0, #0
    bxeq lr
    push {r4, lr}
    sub r0, r0, #1
    bl is_even
    pop {r4, pc}
.size is_odd, .-is_odd
