@ litpool: ldr rN, =value in every form GNU as gives it: mov, mvn, a pool word (shared by
@ two loads), a pool word holding a label's address (ABS32: right only if the loader
@ relocated it), a conditional load, a pool placed by .ltorg and one at the section's end.
@ expect: 1234609
.syntax unified
.arch armv7-a
.fpu vfpv3-d16
.arm
.text
.globl main
.type main, %function
main:
    ldr r1, =value          @ the address of value (relocated pool word)
    ldr r0, [r1]            @ 1234567
    ldr r2, =0x12345678     @ pool
    ldr r3, =0x12345678     @ the same word
    sub r2, r2, r3          @ 0
    add r0, r0, r2
    ldr r2, =-1             @ mvn r2, #0
    add r0, r0, r2          @ 1234566
    ldr r2, =0x3f00         @ mov
    sub r0, r0, r2          @ 1234566 - 16128
    b skip
    .ltorg
skip:
    ldr r2, =0x10003f2a     @ a new pool, at the end of the section
    ldr r3, =0x10000000     @ mov
    sub r2, r2, r3          @ 16170
    add r0, r0, r2          @ 1234566 - 16128 + 16170 = 1234608
    ldr r2, =0x1357acef     @ a pool word
    ldrvs r2, =0x1357acef   @ conditional, the same word: r2 is the same either way
    ldr r3, =0x1357acee
    sub r2, r2, r3          @ 1
    add r0, r0, r2          @ 1234609
    bx lr
value:
    .word 1234567
.size main, .-main
