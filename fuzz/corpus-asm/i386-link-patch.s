# patch: code the driver changes in place with im_lmod_patch (the W^X dance and the
# icache flush): k's immediate, and jb's branch target (t1 <-> t2).
.intel_syntax noprefix
.globl k
.globl jb
.globl t1
.globl t2
k:
    mov eax, 1000
    ret
jb:
    jmp t1
t1:
    mov eax, 1
    ret
t2:
    mov eax, 2
    ret
