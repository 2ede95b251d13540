# fact (module "fact"): n! iteratively and recursively, 64-bit words (SysV: rdi -> rax).
# Checked by tools/progs/progs.c against n! computed in C.
.intel_syntax noprefix
.text
.globl fact_iter
.type fact_iter, @function
fact_iter:
    mov eax, 1
fi_loop:
    cmp rdi, 1
    jbe fi_done
    imul rax, rdi
    dec rdi
    jmp fi_loop
fi_done:
    ret
.size fact_iter, .-fact_iter

.globl fact_rec
.type fact_rec, @function
fact_rec:
    cmp rdi, 1
    ja fr_rec
    mov eax, 1
    ret
fr_rec:
    push rbx
    mov rbx, rdi
    lea rdi, [rdi - 1]
    call fact_rec
    imul rax, rbx
    pop rbx
    ret
.size fact_rec, .-fact_rec
