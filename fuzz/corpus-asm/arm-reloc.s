@ reloc: load a word of this image through its 32-bit absolute address (ABS32).
@ Returns the word only if the loader applied the relocation.
@ expect: 1234567
.syntax unified
.arm
.text
.globl main
.type main, %function
main:
    ldr r1, addr
    ldr r0, [r1]
    bx lr
addr:
    .word value
value:
    .word 1234567
.size main, .-main
