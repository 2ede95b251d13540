/* imago loader: map an image section into executable memory at any address.
 * mmap read-write, copy, relocate, mprotect read-execute, flush the icache.
 * Memory is never writable and executable at once. */
#ifndef IMAGO_LOADER_H
#define IMAGO_LOADER_H

#include "img.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct im_module im_module;

/* Load the section of img for target t (normally im_host_target()).
 * hint = 0: anywhere; otherwise exactly at hint (page-aligned), failing with
 * IM_ERR_SYS if that range is not free. */
int im_load(const im_image *img, im_target t, uintptr_t hint, im_module **out);
void *im_module_symbol(const im_module *m, const char *name); /* NULL if absent */
uintptr_t im_module_base(const im_module *m);
size_t im_module_size(const im_module *m);
void im_unload(im_module *m);

/* Flush the instruction cache for [start, start+len). */
void im_icache_flush(void *start, size_t len);

#ifdef __cplusplus
}
#endif
#endif
