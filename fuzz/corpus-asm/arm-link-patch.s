@ patch: code the driver changes in place with im_lmod_patch (the W^X dance and the
@ icache flush): k's immediate, and jb's branch target (t1 <-> t2).
.syntax unified
.arm
.globl k
.globl jb
.globl t1
.globl t2
k:
    movw r0, #1000
    bx lr
jb:
    b t1
t1:
    mov r0, #1
    bx lr
t2:
    mov r0, #2
    bx lr
