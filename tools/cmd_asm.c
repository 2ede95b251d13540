/* placeholder until the assembler lands */
#include "cmd.h"
int cmd_asm(int argc, char **argv) { (void)argc; (void)argv; tool_error("asm", "not built yet"); return 1; }
int cmd_vectors(int argc, char **argv) { (void)argc; (void)argv; tool_error("vectors", "not built yet"); return 1; }
