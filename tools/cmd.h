/* Subcommands of the imago CLI. Each returns the process exit status. */
#ifndef IMAGO_TOOLS_CMD_H
#define IMAGO_TOOLS_CMD_H

#include <stdint.h>
#include <stdio.h>

int cmd_asm(int argc, char **argv);
int cmd_vectors(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_reloc(int argc, char **argv); /* hidden: tests/test_reloc_ld.py */

/* Read a whole stream into a malloc'd buffer; 0, or -1 with errno set. */
int tool_read_stream(FILE *f, uint8_t **out, size_t *len);

/* "imago <cmd>: " prefixed message on stderr. */
void tool_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
