.arch armv8-a
.import f
.globl main
main:
  adrp x0, data
  add x0, x0, #:lo12:data
  ldr x1, [x0, #:lo12:data]
  adrp x16, f@toc
  ldr x16, [x16, #:lo12:f@toc]
  b f
  .p2align 3
data:
  .xword 7
