/* imago state: what the per-instruction state checks of every architecture share
 * (tools/cmd_state.c: x86, tools/cmd_state_a64.c: AArch64, tools/cmd_state_a32.c: A32;
 * docs/testing.md, "State checks").
 *
 * A check draws cases (struct st_case heads the architecture's own case struct), builds the
 * code of a batch of cases (each case's code at a fixed address, its record at a fixed
 * address in the data block), runs the batch through im_emu_call_data and keeps each
 * case's record after the call. A batch that faults is split until the faulting cases run
 * alone; a second engine runs the very same batches. */
#ifndef IMAGO_TOOLS_STATE_H
#define IMAGO_TOOLS_STATE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "core.h"
#include "form.h"
#include "imago/emu.h"
#include "imago/img.h"

/* The data block: case i's record (one page) is at ST_DATA + ST_HDR + i * ST_REC in every
 * run, so its addresses do not depend on which cases run with it; a run of cases s..s+m
 * maps the block at ST_DATA + s * ST_REC, whose first page (the header) belongs to the
 * scaffold (the caller's stack pointer and registers). */
#define ST_DATA ((uint64_t)IM_EMU_DATA_ADDR)
#define ST_HDR 4096u
#define ST_REC 4096u
/* The code: case i's code at ST_CODE_BASE + ST_CODE_PRO + i * ST_CODE_STRIDE in every run
 * (the image of a batch is loaded at the page below its first case), so a code address a
 * case puts in its state (a return address, a branch target) is the same on every engine
 * however the batches were split. */
#define ST_CODE_BASE 0x10000000u
#define ST_CODE_PRO 64u
#define ST_CODE_STRIDE 1024u
#define ST_CHUNK 1024u /* cases per call */
/* Records must end below unicorn's stack (0x7fe00000) and 2 GiB (absolute addressing). */
#define ST_MAX_CASES 60000u

struct st_case {
    int form;
    unsigned idx, slot;
    char text[160];
};

struct st_outcome {
    int faulted;         /* the call failed with an engine error */
    char detail[200];    /* its message */
    uint8_t rec[ST_REC]; /* the record after the call */
};

struct st_ops {
    im_target t;
    const im_arch *a;
    /* The image of cases cs[0..n) (entry "run"); saved: the header page's address. */
    int (*build)(const struct st_ops *o, struct st_case *const *cs, size_t n, uint64_t saved,
                 uint64_t base, im_image **out);
    /* Case c's record (ST_REC bytes) as the code reads it. */
    void (*put)(const struct st_ops *o, const struct st_case *c, uint8_t *rec);
    /* IMAGO_FAULT_STATE_DROP=ENGINE (the self-test): the byte of the first record that
     * keeps its value from before the call on that engine. */
    unsigned drop_off;
    const char *cmd; /* for messages */
};

uint64_t st_code_addr(unsigned slot);
uint64_t st_code_base(unsigned slot); /* the load address of a batch from slot */
uint64_t st_rec_addr(unsigned slot);

/* Every case, in batches of at most ST_CHUNK: res[i] is case i's outcome, bat[i]/blen[i]
 * the batch it finally ran in. Returns 1 on an error other than a fault (reported). */
int st_run_all(im_emu *emu, im_engine e, const struct st_ops *o, struct st_case **cs, size_t n,
               struct st_outcome *res, size_t *bat, size_t *blen);
/* Another engine: the first engine's batches (bat, blen), each split as st_run_all splits. */
int st_run_like(im_emu *emu, im_engine e, const struct st_ops *o, struct st_case **cs, size_t n,
                const size_t *bat, const size_t *blen, struct st_outcome *res);

uint64_t st_fnv(const char *s);
/* A random value: mode 0 small (0..16), 1 an edge (0, 1, 0x7f, 0x80, ..., ~0), else any. */
uint64_t st_rnd_value(im_rng *r, int mode);
/* Does a rule's KEY name form f: its id, its mnemonic, or, for a prefixed form (lock bts,
 * rep movsb: mnemonic "lock", text "bts ..."), the instruction's own mnemonic. */
int st_key_names(const char *key, const im_form *f);

/* A rules file: lines of up to 3 tab-separated fields (trimmed), '#' starts a comment, empty
 * lines skipped. line() gets the fields of each line (nf >= 1) and returns 0, or 1 after
 * printing what is wrong (st_read_rules then stops and returns 1). */
int st_read_rules(const char *cmd, const char *path,
                  int (*line)(void *ctx, char **fields, int nf, const char *path, int ln),
                  void *ctx);

/* The not-run file of every architecture: KEY<TAB>REASON. */
struct st_skip {
    char key[64];
    char reason[256];
};
struct st_skips {
    struct st_skip *v;
    size_t n;
};
int st_read_skips(const char *cmd, const char *path, struct st_skips *out);
/* The reason a form is not run, or NULL. */
const char *st_skip_reason(const struct st_skips *s, const im_form *f);

/* Not-run keys "text:GLOB": the reason a case whose text matches is drawn again, unless an
 * "allow:GLOB" key matches the text too; NULL when neither. */
const char *st_text_skip(const struct st_skips *s, const char *text);

/* The ARM checks' scaffolding: fixed instruction words appended to b; with --scaffold
 * (st_listing set) each is also listed with its assembler text ("scaffold<TAB>HEX<TAB>TEXT"),
 * and conformance/test_state.py assembles the text with GNU as and requires the same bytes. */
extern FILE *st_listing;
void st_word(im_buf *b, uint32_t w, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* What a check counts per engine for its summary line. */
struct st_tally {
    unsigned forms, cases, faulted, diverge, executed, skipped;
};
/* A form's line on engine ("form<TAB>ID<TAB>ENGINE<TAB>cases=N<TAB>faulted=M"), counted in t:
 * a form run when not every one of its total cases faulted. */
void st_form_line(struct st_tally *t, const char *id, const char *engine, unsigned total,
                  unsigned faulted);

/* The code of a batch, from the architecture's pieces: the prologue, each case's code at its
 * slot (the buffer padded to an offset by `to`), the epilogue after the last slot. */
struct st_code {
    void (*prologue)(im_buf *b);
    void (*to)(im_buf *b, size_t off);
    int (*emit)(im_buf *b, struct st_case *c, uint64_t base); /* 0 or an IM_ERR_* code */
    void (*epilogue)(im_buf *b, uint64_t saved);
};
/* st_ops.build for a check whose batches are made of st_code's pieces; a case whose code
 * passes ST_CODE_STRIDE - 4 bytes is an error. */
int st_build_code(const struct st_ops *o, const struct st_code *k, struct st_case *const *cs,
                  size_t n, uint64_t saved, uint64_t base, im_image **out);

/* Where the operands sit around a memory operand's brackets in a template (ARM). */
struct st_mem_shape {
    int base;                    /* the operand right after '[', or -1 */
    int in[IM_MAX_OPS], nin;     /* other operands inside the brackets */
    int post[IM_MAX_OPS], npost; /* operands after ']' (post-index): the address is the base */
};
struct st_mem_shape st_mem_shape(const im_form *f);

/* The --undefined and --implicit files of the ARM checks: KEY<TAB>ITEMS, KEY a glob on the
 * form id or a mnemonic (st_key_names). --undefined items are the check's own (items[],
 * each a bit) and, where distinct_bit is set, distinct:I:J (operands I and J may not name a
 * common register); --implicit items are target (ST_U_TARGET) and monitor:FORM
 * (ST_U_MONITOR: FORM a load with a base register, which opens the exclusive monitor). */
enum { ST_U_TARGET = 1, ST_U_MONITOR = 8 };
#define ST_MAX_DISTINCT 8
struct st_rule {
    char key[64];
    unsigned bits;
    int mon;                               /* monitor:FORM: the form, or -1 */
    unsigned char dis[ST_MAX_DISTINCT][2]; /* distinct:I:J pairs */
    unsigned ndis;
};
struct st_item {
    const char *name;
    unsigned bit;
};
struct st_rules {
    struct st_rule *v;
    size_t n;
    /* set by the caller */
    const char *cmd;
    im_target t;
    int implicit;                /* reading --implicit */
    const struct st_item *items; /* --undefined: the check's items */
    size_t nitems;
    unsigned distinct_bit; /* --undefined: the bit of distinct:I:J, or 0 (not offered) */
};
/* st_read_rules' line function for struct st_rules (ctx). */
int st_rule_line(void *ctx, char **fields, int nf, const char *path, int ln);
int st_rule_names(const struct st_rule *r, const im_form *f);
unsigned st_rule_bits(const struct st_rules *rs, const im_form *f); /* every matching line's */
int st_rule_monitor(const struct st_rules *rs, const im_form *f); /* the last monitor:FORM, or -1 */

/* imago state -a aarch64 (tools/cmd_state_a64.c); cmd_state hands the target over. */
int cmd_state_a64(int argc, char **argv);
/* imago state -a arm (tools/cmd_state_a32.c). */
int cmd_state_a32(int argc, char **argv);

/* The options every state check takes (`imago state --help`). */
struct st_opts {
    const char *target, *engine, *reference; /* NULL when not given */
    const char *undefined, *notrun, *implicit;
    const char *only[64]; /* --form IDs */
    size_t nonly;
    unsigned cases, shard_i, shard_n;
    uint64_t seed;
    int scaffold;
};
/* Parse argv into o (defaults: 16 cases, seed 1, shard 1/1). Returns 0 to go on, or the
 * exit status: 0 after --help (usage(stdout)), 2 after a bad option (a message, then
 * usage(stderr)). `reference` is accepted only when allow_reference. */
int st_parse_opts(int argc, char **argv, struct st_opts *o, void (*usage)(FILE *f),
                  int allow_reference, int *exit_status);

/* A batch's code as an image: entry exported as "run", the buffer finished and freed (also
 * on an error). Returns 0 (and *out) or an IM_ERR_* code. */
int st_image(im_buf *b, int entry, im_image **out);

/* Whether form f is one the options choose: one --form names, else (no --form) every
 * shard_n-th of the forms passed here from the shard_i-th (*ordinal counts them). */
int st_chosen(const struct st_opts *o, const im_form *f, unsigned *ordinal);

/* The cases of a check, in order (each one a struct st_case heading the architecture's). */
struct st_cases {
    struct st_case **v;
    size_t n, cap;
};
/* make fills case c (of the size st_draw was given) as case k of form fi in slot `slot`,
 * or returns nonzero to leave it out. */
typedef int (*st_make_fn)(void *ctx, int fi, unsigned k, unsigned slot, struct st_case *c);
/* `cases` cases of form fi drawn with make and appended to cs: the number kept, or -1
 * past ST_MAX_CASES or out of memory (reported). */
long st_draw(struct st_cases *cs, size_t size, unsigned cases, int fi, st_make_fn make,
             void *ctx, const char *cmd);
void st_cases_free(struct st_cases *cs);

#endif
