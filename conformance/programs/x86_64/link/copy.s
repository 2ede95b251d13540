# copy (module "copy"): copy(dst, src, n) copies n bytes, 8 at a time then byte by byte,
# and returns dst (rdi, rsi, rdx -> rax). tools/progs/progs.c passes buffers of its own
# with random lengths and alignments and checks the bytes and the guards around them.
.intel_syntax noprefix
.text
.globl copy
.type copy, @function
copy:
    mov rax, rdi
cp_words:
    cmp rdx, 8
    jb cp_bytes
    mov rcx, QWORD PTR [rsi]
    mov QWORD PTR [rdi], rcx
    add rsi, 8
    add rdi, 8
    sub rdx, 8
    jmp cp_words
cp_bytes:
    test rdx, rdx
    je cp_done
    mov cl, BYTE PTR [rsi]
    mov BYTE PTR [rdi], cl
    inc rsi
    inc rdi
    dec rdx
    jmp cp_bytes
cp_done:
    ret
.size copy, .-copy
