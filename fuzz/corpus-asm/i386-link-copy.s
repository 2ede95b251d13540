# copy (module "copy"): copy(dst, src, n) copies n bytes, 4 at a time then byte by byte,
# and returns dst (cdecl). tools/progs/progs.c passes buffers of its own with random
# lengths and alignments and checks the bytes and the guards around them.
.intel_syntax noprefix
.text
.globl copy
.type copy, @function
copy:
    push esi
    push edi
    mov edi, DWORD PTR [esp + 12]
    mov esi, DWORD PTR [esp + 16]
    mov edx, DWORD PTR [esp + 20]
    mov eax, edi
cp_words:
    cmp edx, 4
    jb cp_bytes
    mov ecx, DWORD PTR [esi]
    mov DWORD PTR [edi], ecx
    add esi, 4
    add edi, 4
    sub edx, 4
    jmp cp_words
cp_bytes:
    test edx, edx
    je cp_done
    mov cl, BYTE PTR [esi]
    mov BYTE PTR [edi], cl
    inc esi
    inc edi
    dec edx
    jmp cp_bytes
cp_done:
    pop edi
    pop esi
    ret
.size copy, .-copy
