// patch: code the driver changes in place with im_lmod_patch (the W^X dance and the
// icache flush): k's immediate, and jb's branch target (t1 <-> t2).
.globl k
.globl jb
.globl t1
.globl t2
k:
    movz w0, #1000
    ret
jb:
    b t1
t1:
    mov w0, #1
    ret
t2:
    mov w0, #2
    ret
