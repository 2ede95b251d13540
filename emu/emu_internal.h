/* Engines: the interface every backend implements (not installed). */
#ifndef IMAGO_EMU_INTERNAL_H
#define IMAGO_EMU_INTERNAL_H

#include "imago/emu.h"

/* Load address used when im_emu_load is given 0: low enough that ABS32
 * relocations resolve on every target and engine, so results agree. */
#define IM_EMU_DEFAULT_BASE 0x10000000u
/* Wall-clock limit for one call through a runner (native i386, qemu). */
#define IM_EMU_EXEC_TIMEOUT_MS 30000
/* Limits for one Unicorn call. */
#define IM_EMU_UC_TIMEOUT_MS 10000
#define IM_EMU_UC_MAX_INSNS 100000000u

/* The time limit of one call in milliseconds: $IMAGO_EMU_TIMEOUT_MS when set to a
 * positive number, else def. */
unsigned im_emu_timeout_ms(unsigned def);

/* The data block of one im_emu_call_data call (NULL for im_emu_call). The backend maps len
 * bytes (rounded up to whole pages, the rest zero) read-write at addr, copies p in before
 * the call and back after a successful one; args[0] of the call is addr. */
typedef struct im_emu_data {
    void *p;
    size_t len;
    uint64_t addr;
} im_emu_data;

typedef struct im_emu_ops {
    const char *name; /* for messages: "native", "native (runner)", "qemu", "unicorn" */
    /* Check the backend can run emu->target here; set up emu->priv. */
    int (*open)(im_emu *emu);
    /* Load emu->sec at base (0: the backend picks); set emu->base. */
    int (*load)(im_emu *emu, uint64_t base);
    /* Release whatever load set up (called before a reload and by close). */
    void (*unload)(im_emu *emu);
    /* Call the symbol name at offset off of the loaded section; data: see im_emu_data. */
    int (*call)(im_emu *emu, const char *name, uint32_t off, const int64_t *args, size_t nargs,
                const im_emu_data *data, int64_t *result);
    void (*close)(im_emu *emu);
    /* im_emu_load_linked in another process (the runner engines): check and keep emu->img,
     * every section of the target, for the calls; NULL: the engine links in this process
     * (emu.c, through im_emu_link_new). */
    int (*load_linked)(im_emu *emu);
} im_emu_ops;

struct im_emu {
    const im_emu_ops *ops;
    im_engine engine;
    im_target target;
    im_image *img;         /* private copy holding only the target's section, once loaded */
    const im_section *sec; /* img's section */
    uint64_t base;         /* where sec is (or will be) loaded; 0 before load */
    void *priv;            /* backend state */
    char *module;          /* im_emu_load_linked: the module whose symbols are called */
    struct im_link *link;  /* ... in this process: the link space holding img's modules */
};

extern const im_emu_ops im_emu_native_ops;  /* in-process: target == host */
extern const im_emu_ops im_emu_runner_ops;  /* the host runs the target's runner directly */
extern const im_emu_ops im_emu_qemu_ops;    /* the target's runner under qemu-<target> */
extern const im_emu_ops im_emu_unicorn_ops; /* absent when built with IMAGO_NO_UNICORN */
struct im_link;
int im_emu_uc_link_new(im_target t, struct im_link **out); /* emu/unicorn.c */
/* Call addr in a unicorn link space, with the data block d (NULL: none) mapped for the call. */
int im_emu_uc_link_call(struct im_link *l, uint64_t addr, const int64_t *args, size_t nargs,
                        const struct im_emu_data *d, int64_t *result);
/* Call host code at addr with up to 4 integer arguments, d (NULL: none) mapped for the call
 * (emu/native.c). */
int im_emu_native_invoke(uint64_t addr, const int64_t *args, size_t nargs,
                         const struct im_emu_data *d, int64_t *result);

/* Directory of the runners: im_emu_set_runner_dir, $IMAGO_RUNNER_DIR, or the
 * directory of /proc/self/exe. Writes into buf; 0 or an IM_ERR_* code. */
int im_emu_runner_dir(char *buf, size_t size);

/* Does the host run target t's code natively (in-process or through its runner)? */
int im_emu_native_supports(im_target t);

/* Arguments must fit the target's registers: int32 or uint32 on 32-bit targets. */
int im_emu_check_args(im_target t, const int64_t *args, size_t nargs);

/* In-process engines: map d's block read-write at d->addr (never over an existing mapping)
 * and copy d->p in; *mapped and *maplen for the copy back and munmap. */
int im_emu_map_data(const im_emu_data *d, void **mapped, size_t *maplen);

#endif
