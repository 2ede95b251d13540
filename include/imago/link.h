/* imago runtime linker: a link space holds modules loaded from image sections, each with
 * its exports, its imports and its TOC; host functions the embedding program registers;
 * moving, hot reload with incremental relinking, patching and writing the set back out
 * as an image (docs/image-format.md, docs/loader.md).
 *
 * Memory: code comes from a pooled arena of executable memory that is never writable and
 * executable at once (a dual mapping: the loader writes through a read-write view of pages
 * whose executable view is read+exec), or, for a module placed at a chosen address, from
 * its own mapping (written read-write, then flipped to read+exec). Every write to code is
 * followed by the instruction-cache flush the target needs. A module's TOC (one pointer per
 * import slot) is plain read-write data next to its code.
 *
 * Calls between modules go through the TOC: an import's slot first holds the address of a
 * lazy stub that resolves the name on the first call (exports of the space's modules, then
 * host functions), stores the address in the slot and jumps there. A module that imports a
 * name from another is one of that module's "users": when the provider is reloaded or
 * moved, its users' slots are re-pointed, and nothing else is touched.
 *
 * Threads: code may run on any thread. Old code (a reload at a fresh address, a move, an
 * unload) is retired, not freed: it is freed once every thread registered with
 * im_link_thread_enter has passed im_link_quiescent (or left) after the retirement, so no
 * thread can still be in it. Threads that never register must not run code of modules
 * that are reloaded or moved concurrently. */
#ifndef IMAGO_LINK_H
#define IMAGO_LINK_H

#include "img.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct im_link im_link; /* a link space: one target's modules and host functions */
typedef struct im_lmod im_lmod; /* a module loaded in a link space */

/* A link space for code that runs on this host (t must be im_host_target()). */
int im_link_new(im_target t, im_link **out);
/* Unload every module and free the space (all memory returned; no thread may run its code). */
void im_link_free(im_link *l);
im_target im_link_target(const im_link *l);

/* Register a host function (or data address) under name: imports of that name resolve to
 * addr when no module exports it. Registering a name twice replaces the address for
 * imports resolved afterwards. */
int im_link_host(im_link *l, const char *name, uint64_t addr);

/* What a lazily-resolved import that resolves to nothing does: by default the error
 * (IM_ERR_UNRESOLVED, naming the import, its module and slot) is printed on stderr and the
 * process exits with status 70. A handler may longjmp out or exit; if it returns, so does
 * the default. In a unicorn link space (<imago/emu.h>) the guest is stopped instead and the
 * call returns IM_ERR_UNRESOLVED, after the handler if one is set. */
typedef void (*im_link_unresolved_fn)(const char *module, const char *name, uint32_t slot,
                                      void *ctx);
void im_link_on_unresolved(im_link *l, im_link_unresolved_fn fn, void *ctx);

/* Load sec (its target must be the space's) as a new module. addr = 0: from the arena;
 * otherwise exactly at addr (aligned to the section's alignment and the page), failing with
 * IM_ERR_SYS if the range is taken. Relocations against the module's own symbols and TOC are
 * applied; IM_REF_IMPORT relocations are bound now (IM_ERR_UNRESOLVED if a name resolves to
 * nothing), through a veneer when a branch cannot reach; TOC slots start at their lazy
 * stubs. A module name already loaded is IM_ERR_INVAL (use im_lmod_reload). */
int im_link_load(im_link *l, const im_section *sec, uint64_t addr, im_lmod **out);
/* Load every section of img for the space's target, in image order, except that a section
 * whose direct import another section of img exports waits for it. On error nothing stays
 * loaded from img. */
int im_link_load_image(im_link *l, const im_image *img);
/* Unload a module: IM_ERR_BUSY while another loaded module still imports from it (its users
 * must go first, or be reloaded without the import). Its memory is retired (see Threads). */
int im_lmod_unload(im_lmod *m);

im_lmod *im_link_module(const im_link *l, const char *name); /* NULL if none */
const char *im_lmod_name(const im_lmod *m);
im_target im_lmod_target(const im_lmod *m);
uint64_t im_lmod_base(const im_lmod *m);       /* address of the code */
uint32_t im_lmod_size(const im_lmod *m);       /* bytes of code */
uint64_t im_lmod_toc(const im_lmod *m);        /* address of TOC slot 0 */
uint32_t im_lmod_generation(const im_lmod *m); /* 0 when loaded, +1 per reload */
/* Address of an exported symbol (0 and IM_ERR_NOSYM in im_detail if absent). */
uint64_t im_lmod_symbol(const im_lmod *m, const char *name);
/* The address name resolves to in the space (exports, then host functions); 0 if none. */
uint64_t im_link_resolve(im_link *l, const char *name);
/* Resolve every import of every module now: 0, or IM_ERR_UNRESOLVED naming the first
 * import that resolves to nothing (module, name, slot). */
int im_link_check(im_link *l);
/* The number of modules that import from m (its "users"). */
unsigned im_lmod_users(const im_lmod *m);

/* Move m's code to addr (0: anywhere in the arena), as a copying collector moves code:
 * every relocation kept from its section is re-applied (references inside it, to its TOC
 * and to other modules), and every user's TOC slot that pointed into it is re-pointed.
 * The old code is retired. */
int im_lmod_move(im_lmod *m, uint64_t addr);

/* Hot reload: replace m's code by sec (same module name and target). In place when the new
 * code fits the old block and no registered thread can be in it (every registered thread
 * has been quiescent since the last call into the space could have started, checked as the
 * retired-code rule); otherwise at a fresh address, the old code retired. Then incremental
 * relink: m's own imports are bound anew (its TOC is rebuilt with lazy stubs), and every
 * user's TOC slots for names m exports point at the new code (names m no longer exports go
 * back to their lazy stubs). Nothing else is reloaded. *in_place (may be NULL) says which. */
int im_lmod_reload(im_lmod *m, const im_section *sec, int *in_place);

/* Patching loaded code: write len bytes at offset of m's code (the W^X dance: through the
 * read-write view, or flipping the page, then the icache flush). The assembler's patch API
 * (im_lmod_patch in <imago/enc.h>) encodes an instruction and calls this. */
int im_lmod_write(im_lmod *m, uint32_t offset, const void *bytes, size_t len);
/* Read back len bytes of m's code at offset. */
int im_lmod_read(const im_lmod *m, uint32_t offset, void *bytes, size_t len);

/* Preserve: write the space's modules back out as an image (one section per module, in load
 * order): the code as it is now (patches kept), with relocated fields reset to their
 * unrelocated values, the exports, imports and relocations of the code as last loaded. The
 * image loads and runs the same in a new space. */
int im_link_preserve(const im_link *l, im_image **out);

/* Threads. A thread that runs code which may be reloaded or moved enters the space, says
 * when it holds no pointer into module code (between calls), and leaves. */
int im_link_thread_enter(im_link *l);
void im_link_quiescent(im_link *l);
void im_link_thread_leave(im_link *l);
/* Free retired code no thread can be in any more; returns the number of bytes still
 * waiting. Called by every reload, move and unload too. */
size_t im_link_collect(im_link *l);

/* Statistics: bytes of code mapped from the arena, bytes retired and not yet freed. */
typedef struct im_link_stats {
    size_t arena_bytes;   /* mapped: each arena chunk's two views of its code and its data
                             (3x the chunk's code size), own mappings, guest blocks */
    size_t arena_used;    /* handed out to live modules */
    size_t retired_bytes; /* waiting for threads to be quiescent */
    unsigned modules;
    unsigned lazy_resolutions; /* imports resolved through a lazy stub */
} im_link_stats;
void im_link_get_stats(const im_link *l, im_link_stats *st);

#ifdef __cplusplus
}
#endif
#endif
