/* The runtime linker's memory backends (internal, not installed). loader/link.c holds the
 * linking logic (modules, TOC, lazy stubs, veneers, move, reload, preserve) over a backend
 * that owns the memory: the native one (loader/arena.c: a dual-mapped arena of this
 * process) or an emulator's (emu/unicorn.c: the guest's memory). */
#ifndef IMAGO_LOADER_LINK_INTERNAL_H
#define IMAGO_LOADER_LINK_INTERNAL_H

#include "imago/link.h"

/* A block: a module's code (executable, never writable through this address) and its data
 * (the TOC: read-write, never executable), within reach of each other (+-2 GiB). */
typedef struct im_lblock {
    uint64_t code;      /* address of the code (the executable view) */
    size_t code_size;   /* bytes reserved for code (code + veneers + lazy stubs) */
    uint64_t data;      /* address of the data */
    size_t data_size;   /* bytes reserved for data */
    void *h;            /* the backend's handle */
} im_lblock;

typedef struct im_link_backend {
    void *ctx;
    /* Reserve a block: code_size bytes of code aligned to align (a power of two), data_size
     * bytes of data aligned to 16, at code address at exactly (0: anywhere). */
    int (*alloc)(void *ctx, size_t code_size, size_t data_size, size_t align, uint64_t at,
                 im_lblock *b);
    /* Give a block back (its memory may be reused at once: retire first). */
    void (*release)(void *ctx, im_lblock *b);
    /* Writable bytes for [off, off + n) of b's code, holding what the code holds now (a
     * read-write view, or the pages flipped to read-write: never writable and executable at
     * once); wend publishes them (the flip back, the icache flush). NULL on failure. */
    uint8_t *(*wbegin)(void *ctx, im_lblock *b, size_t off, size_t n);
    int (*wend)(void *ctx, im_lblock *b, size_t off, size_t n);
    /* Read n bytes of b's code at off. */
    int (*read)(void *ctx, const im_lblock *b, size_t off, void *dst, size_t n);
    /* Data words (TOC slots): size 4 or 8, atomic with release/acquire order. */
    void (*store)(void *ctx, uint64_t addr, uint64_t v, unsigned size);
    uint64_t (*load)(void *ctx, uint64_t addr, unsigned size);
    /* Bytes the backend has mapped, for statistics. */
    size_t (*mapped)(void *ctx);
    void (*destroy)(void *ctx);
    /* Where lazy stubs jump (the id of the import in the target's scratch register:
     * x86_64 r11, i386 pushed on the stack, arm ip, aarch64 x16). */
    uint64_t lazy_entry;
} im_link_backend;

/* A link space over a backend (the link owns it: destroy is called by im_link_free). */
int im_link_new_backend(im_target t, const im_link_backend *be, im_link **out);

/* The lazy stubs' resolver: resolve import id, store its address in its TOC slot, return the
 * address to jump to. An id that resolves to nothing calls the unresolved handler, then
 * prints the error and exits with status 70. */
uint64_t im_link_lazy(uint64_t id);
/* The same, but when nothing resolves it returns 0 after the handler, with the error set
 * (IM_ERR_UNRESOLVED, im_detail): for a backend that can stop the code (unicorn's trap). */
uint64_t im_link_lazy_try(uint64_t id);

/* First-fit allocation over free extents (offsets into some region), sorted by offset. */
struct im_extent {
    size_t off, len;
};
struct im_freelist {
    struct im_extent *v;
    size_t n, cap;
};
/* Take len bytes whose address base + offset is aligned to align: 0, or -1 if none fits. */
int im_fl_take(struct im_freelist *f, uintptr_t base, size_t len, size_t align, size_t *off);
/* Give [off, off + len) back (coalescing): 0 or IM_ERR_NOMEM. */
int im_fl_give(struct im_freelist *f, size_t off, size_t len);

/* The backend of a link space (the emulator engines reach their state through it). */
const im_link_backend *im_link_get_backend(const im_link *l);

/* The native backend (loader/arena.c) for this host. */
int im_arena_backend(im_link_backend *be);
/* Does it remap the executable view after writes (its probe found that instruction fetch
 * does not see writes through the other view: qemu-user)? */
int im_arena_remaps(const im_link_backend *be);

#endif
