# fib (module "fib"): Fibonacci numbers iteratively (wrapping at 32 bits) and recursively
# (cdecl). Checked by tools/progs/progs.c against values computed in C.
.intel_syntax noprefix
.text
.globl fib_iter
.type fib_iter, @function
fib_iter:
    mov ecx, DWORD PTR [esp + 4]
    xor eax, eax
    mov edx, 1
fib_loop:
    test ecx, ecx
    je fib_done
    add eax, edx
    xchg eax, edx
    dec ecx
    jmp fib_loop
fib_done:
    ret
.size fib_iter, .-fib_iter

.globl fib_rec
.type fib_rec, @function
fib_rec:
    mov ecx, DWORD PTR [esp + 4]
    cmp ecx, 2
    jae fr2
    mov eax, ecx
    ret
fr2:
    push ebx
    push esi
    mov ebx, ecx
    lea eax, [ebx - 1]
    push eax
    call fib_rec
    add esp, 4
    mov esi, eax
    lea eax, [ebx - 2]
    push eax
    call fib_rec
    add esp, 4
    add eax, esi
    pop esi
    pop ebx
    ret
.size fib_rec, .-fib_rec
