/* imago engines: run generated code natively, under qemu-user, or under Unicorn,
 * through one interface. */
#ifndef IMAGO_EMU_H
#define IMAGO_EMU_H

#include "img.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum im_engine {
    IM_ENGINE_NONE = 0,
    IM_ENGINE_NATIVE = 1,  /* the host CPU (in-process, or the i386 runner on x86_64) */
    IM_ENGINE_QEMU = 2,    /* the runner built for the target, under qemu-<target> */
    IM_ENGINE_UNICORN = 3, /* in-process through libunicorn */
} im_engine;

const char *im_engine_name(im_engine e);
im_engine im_engine_from_name(const char *name);

/* Is engine e compiled into this build? (Unicorn is left out of builds for a host
 * that has no libunicorn, e.g. imago cross-built for arm; see docs/engines.md.) */
int im_emu_engine_built(im_engine e);

typedef struct im_emu im_emu;

/* Directory holding imago-runner-<target> binaries; default: the directory of
 * the running executable, or $IMAGO_RUNNER_DIR when set. */
void im_emu_set_runner_dir(const char *dir);

int im_emu_open(im_engine e, im_target t, im_emu **out);
/* Flags for im_emu_open_ex. IM_EMU_ISOLATED: the native engine runs the code in the
 * target's runner process even for the host's own target, so generated code that faults or
 * hangs is reported as an error instead of taking the caller down. */
#define IM_EMU_ISOLATED 1u
int im_emu_open_ex(im_engine e, im_target t, unsigned flags, im_emu **out);
/* Load the target's section of img at base (0: the engine's default address). */
int im_emu_load(im_emu *emu, const im_image *img, uint64_t base);
/* Load every section of img for the engine's target through the runtime linker
 * (<imago/link.h>): modules in dependency order (im_link_load_image), TOCs with lazy
 * binding, direct imports bound, veneers. Calls then run symbols of module (NULL: the first
 * module of img with a section for the target). The linker places the modules, so there is
 * no base: im_emu_base gives the module's code address, under the runner engines (qemu,
 * native isolated) once a call has run, for each call is a fresh process that links the set
 * again. Native and unicorn link in this process; an import that resolves to nothing at a
 * call is an error of that call, except in-process native (the linker's handler: exit 70).
 * IM_ERR_NOSECTION, when module (or any module) has no section for the target, leaves what
 * was loaded before; any later error leaves nothing loaded. */
int im_emu_load_linked(im_emu *emu, const im_image *img, const char *module);
/* Call entry (an exported symbol) with up to 4 integer arguments under the
 * target's C calling convention; *result receives the integer return value
 * (sign-extended from 32 bits on 32-bit targets). */
int im_emu_call(im_emu *emu, const char *entry, const int64_t *args, size_t nargs, int64_t *result);
/* Default address of the data block of im_emu_call_data: clear of the default load address
 * (and the 1 GiB above it the engines may step through), of unicorn's stacks, and below
 * 2 GiB, so 32-bit targets and absolute 32-bit addresses reach it. */
#define IM_EMU_DATA_ADDR 0x70000000u
/* Largest data block im_emu_call_data passes. */
#define IM_EMU_DATA_MAX (64u << 20)
/* Call entry with a data block shared with the code: the engine maps len bytes read-write,
 * never executable, at data_addr (0: IM_EMU_DATA_ADDR; page-aligned, inside the target's
 * address space, not overlapping the loaded code), copies data in, calls entry with the
 * block's address as the first argument followed by up to 3 integer args, then copies the
 * block back into data and unmaps it. On any error data is left as it was. */
int im_emu_call_data(im_emu *emu, const char *entry, void *data, size_t len, uint64_t data_addr,
                     const int64_t *args, size_t nargs, int64_t *result);
/* Base address the section was loaded at, after im_emu_load. */
uint64_t im_emu_base(const im_emu *emu);
void im_emu_close(im_emu *emu);

/* ---- link spaces under an engine (<imago/link.h>) ----
 * The runtime linker over an engine's memory, so modules, TOCs, lazy binding, host
 * functions, moving, reloading and patching run for any target: IM_ENGINE_NATIVE is
 * im_link_new (the host's own target); IM_ENGINE_UNICORN links into a unicorn guest (code
 * read+exec and TOCs read-write in the guest, lazy stubs and host functions trapped by a
 * hook). Under qemu-user the target's own build of a program links natively (imago-progs). */
struct im_link;
int im_emu_link_new(im_engine e, im_target t, struct im_link **out);
/* A host function for generated code: it receives the call's first four integer arguments
 * and returns the integer result. Under unicorn it runs in a hook; it may call back into the
 * guest with im_emu_link_call (nested: the interrupted code's registers are kept, the new
 * frames go below its stack). */
typedef int64_t (*im_emu_host_fn)(void *ctx, const int64_t *args);
/* Register fn under name in a unicorn link space (a native space takes the C function
 * itself: im_link_host). */
int im_emu_link_host(struct im_link *l, const char *name, im_emu_host_fn fn, void *ctx);
/* Call the code at addr with up to 4 integer arguments (unicorn spaces). */
int im_emu_link_call(struct im_link *l, uint64_t addr, const int64_t *args, size_t nargs,
                     int64_t *result);
/* Guest data: map len bytes read-write (never executable) in a unicorn space; *addr gets the
 * address. Read and write them from the host. */
int im_emu_link_map(struct im_link *l, size_t len, uint64_t *addr);
int im_emu_link_write(struct im_link *l, uint64_t addr, const void *src, size_t len);
/* Is [addr, addr + len) free guest address space in a unicorn space (inside the target's
 * range for chosen addresses, overlapping no mapping): 1, else 0. For picking where
 * im_lmod_move or im_link_load put a module at a chosen address. */
int im_emu_link_range_free(struct im_link *l, uint64_t addr, size_t len);
int im_emu_link_read(struct im_link *l, uint64_t addr, void *dst, size_t len);

#ifdef __cplusplus
}
#endif
#endif
