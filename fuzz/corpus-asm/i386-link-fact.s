# fact (module "fact"): n! iteratively and recursively, 32-bit words (cdecl: the argument
# at [esp + 4], the result in eax). Checked by tools/progs/progs.c against n! in C.
.intel_syntax noprefix
.text
.globl fact_iter
.type fact_iter, @function
fact_iter:
    mov ecx, DWORD PTR [esp + 4]
    mov eax, 1
fi_loop:
    cmp ecx, 1
    jbe fi_done
    imul eax, ecx
    dec ecx
    jmp fi_loop
fi_done:
    ret
.size fact_iter, .-fact_iter

.globl fact_rec
.type fact_rec, @function
fact_rec:
    mov ecx, DWORD PTR [esp + 4]
    cmp ecx, 1
    ja fr_rec
    mov eax, 1
    ret
fr_rec:
    push ebx
    mov ebx, ecx
    lea eax, [ecx - 1]
    push eax
    call fact_rec
    add esp, 4
    imul eax, ebx
    pop ebx
    ret
.size fact_rec, .-fact_rec
