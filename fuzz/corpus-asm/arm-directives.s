.syntax unified
.arch armv7-a
.fpu vfpv3-d16
.arm
.import f
.globl main
main:
  movw r0, #:lower16:data
  movt r0, #:upper16:data
  ldr r1, =0x12345678
  ldr ip, =f@toc
  bl f
  bx lr
  .ltorg
data:
  .word 5
