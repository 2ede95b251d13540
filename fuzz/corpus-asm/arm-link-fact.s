@ fact (module "fact"): n! iteratively and recursively, 32-bit words (AAPCS: r0 -> r0).
@ Checked by tools/progs/progs.c against n! computed in C.
.syntax unified
.arm
.text
.globl fact_iter
.type fact_iter, %function
fact_iter:
    mov r1, r0
    mov r0, #1
fi_loop:
    cmp r1, #1
    bls fi_done
    mul r0, r1, r0
    sub r1, r1, #1
    b fi_loop
fi_done:
    bx lr
.size fact_iter, .-fact_iter

.globl fact_rec
.type fact_rec, %function
fact_rec:
    cmp r0, #1
    movls r0, #1
    bxls lr
    push {r4, lr}
    mov r4, r0
    sub r0, r0, #1
    bl fact_rec
    mul r0, r4, r0
    pop {r4, pc}
.size fact_rec, .-fact_rec
