// prov_a (module "prov", version A): val(x) = 3x + 1 after a short delay loop (so callers
// are often inside it when it is reloaded), konst() = 1111.
.text
.globl val
.type val, %function
val:
    mov x1, #32
pv_loop:
    subs x1, x1, #1
    b.ne pv_loop
    add x0, x0, x0, lsl #1
    add x0, x0, #1
    ret
.size val, .-val

.globl konst
.type konst, %function
konst:
    mov x0, #1111
    ret
.size konst, .-konst
