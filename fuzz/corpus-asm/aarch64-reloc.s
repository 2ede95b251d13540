// reloc: load a word of this image through its 64-bit absolute address (ABS64).
// Returns the word only if the loader applied the relocation. The data word comes
// before the address so that the .quad lands 8-aligned with no padding.
// expect: 1234567
.text
.globl main
.type main, %function
main:
    ldr x1, addr
    ldr w0, [x1]
    ret
value:
    .word 1234567
addr:
    .quad value
.size main, .-main
