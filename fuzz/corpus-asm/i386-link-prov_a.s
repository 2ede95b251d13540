# prov_a (module "prov", version A): val(x) = 3x + 1 after a short delay loop (so callers
# are often inside it when it is reloaded), konst() = 1111.
.intel_syntax noprefix
.text
.globl val
.type val, @function
val:
    mov ecx, 32
pv_loop:
    dec ecx
    jne pv_loop
    mov eax, DWORD PTR [esp + 4]
    lea eax, [eax + eax * 2 + 1]
    ret
.size val, .-val

.globl konst
.type konst, @function
konst:
    mov eax, 1111
    ret
.size konst, .-konst
