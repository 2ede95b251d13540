# seed: mov 42, jump over an add, return 42. Uses rbx (callee-saved), saved and restored.
# expect: 42
.intel_syntax noprefix
.text
.globl main
.type main, @function
main:
    push rbx
    mov ebx, 5
    mov eax, 42
    jmp end
    add eax, ebx
end:
    pop rbx
    ret
.size main, .-main
