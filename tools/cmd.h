/* Subcommands of the imago CLI. Each returns the process exit status. */
#ifndef IMAGO_TOOLS_CMD_H
#define IMAGO_TOOLS_CMD_H

int cmd_asm(int argc, char **argv);
int cmd_vectors(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_dump(int argc, char **argv);

/* "imago <cmd>: " prefixed message on stderr. */
void tool_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
