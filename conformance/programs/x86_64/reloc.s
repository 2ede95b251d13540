# reloc: load a word of this image through its 64-bit absolute address (ABS64).
# Returns the word only if the loader applied the relocation.
# expect: 1234567
.intel_syntax noprefix
.text
.globl main
.type main, @function
main:
    movabs rax, OFFSET value
    mov eax, DWORD PTR [rax]
    ret
.size main, .-main
value:
    .long 1234567
