.intel_syntax noprefix
.import f
.globl main
main:
  call DWORD PTR [f@toc]
  mov eax, OFFSET data
  mov eax, [data + 4]
  ret
data:
  .long 1, 2
