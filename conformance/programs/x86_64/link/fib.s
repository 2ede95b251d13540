# fib (module "fib"): Fibonacci numbers iteratively (wrapping at 64 bits) and recursively
# (rdi -> rax). Checked by tools/progs/progs.c against values computed in C.
.intel_syntax noprefix
.text
.globl fib_iter
.type fib_iter, @function
fib_iter:
    xor eax, eax
    mov edx, 1
fib_loop:
    test rdi, rdi
    je fib_done
    add rax, rdx
    xchg rax, rdx
    dec rdi
    jmp fib_loop
fib_done:
    ret
.size fib_iter, .-fib_iter

.globl fib_rec
.type fib_rec, @function
fib_rec:
    cmp rdi, 2
    jae fr2
    mov rax, rdi
    ret
fr2:
    push rbx
    push rbp
    sub rsp, 8
    mov rbx, rdi
    lea rdi, [rbx - 1]
    call fib_rec
    mov rbp, rax
    lea rdi, [rbx - 2]
    call fib_rec
    add rax, rbp
    add rsp, 8
    pop rbp
    pop rbx
    ret
.size fib_rec, .-fib_rec
