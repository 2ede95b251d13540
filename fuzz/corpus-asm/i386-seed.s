# seed: mov 42, jump over an add, return 42. Uses ebx (callee-saved), saved and restored.
# expect: 42
.intel_syntax noprefix
.text
.globl main
.type main, @function
main:
    push ebx
    mov ebx, 5
    mov eax, 42
    jmp end
    add eax, ebx
end:
    pop ebx
    ret
.size main, .-main
