# reloc: load a word of this image through its 32-bit absolute address (ABS32).
# Returns the word only if the loader applied the relocation.
# expect: 1234567
.intel_syntax noprefix
.text
.globl main
.type main, @function
main:
    mov ecx, OFFSET value
    mov eax, DWORD PTR [ecx]
    ret
.size main, .-main
value:
    .long 1234567
