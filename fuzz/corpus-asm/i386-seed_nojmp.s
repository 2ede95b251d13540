# seed without the jump: 42 + 5. Uses ebx (callee-saved), saved and restored.
# expect: 47
.intel_syntax noprefix
.text
.globl main
.type main, @function
main:
    push ebx
    mov ebx, 5
    mov eax, 42
    add eax, ebx
    pop ebx
    ret
.size main, .-main
