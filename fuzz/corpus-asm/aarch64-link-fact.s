// fact (module "fact"): n! iteratively and recursively, 64-bit words (AAPCS64: x0 -> x0).
// Checked by tools/progs/progs.c against n! computed in C.
.text
.globl fact_iter
.type fact_iter, %function
fact_iter:
    mov x1, x0
    mov x0, #1
fi_loop:
    cmp x1, #1
    b.ls fi_done
    mul x0, x0, x1
    sub x1, x1, #1
    b fi_loop
fi_done:
    ret
.size fact_iter, .-fact_iter

.globl fact_rec
.type fact_rec, %function
fact_rec:
    cmp x0, #1
    b.hi fr_rec
    mov x0, #1
    ret
fr_rec:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x19, [sp, #16]
    mov x19, x0
    sub x0, x0, #1
    bl fact_rec
    mul x0, x0, x19
    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
    ret
.size fact_rec, .-fact_rec
