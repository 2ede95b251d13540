/* LD_PRELOAD shim for the W^X check of the unicorn engine (conformance/test_wx.py).
 * Logs every uc_mem_map / uc_mem_map_ptr / uc_mem_protect call, with the guest
 * permissions asked for, to the file named by $IMAGO_UC_LOG, then calls the real
 * function. Host-level tracing cannot see guest permissions: libunicorn backs all
 * guest memory with host read-write memory and runs translated code from its own
 * buffer, so this is where the loader rule is observable for unicorn. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unicorn/unicorn.h>

static void trace(const char *fn, uint64_t address, size_t size, uint32_t perms, uc_err err)
{
    const char *path = getenv("IMAGO_UC_LOG");
    FILE *f = fopen(path ? path : "/dev/stderr", "a");
    if (!f)
        return;
    fprintf(f, "%s 0x%llx 0x%llx %u %d\n", fn, (unsigned long long)address,
            (unsigned long long)size, (unsigned)perms, (int)err);
    fclose(f);
}

uc_err uc_mem_map(uc_engine *uc, uint64_t address, size_t size, uint32_t perms)
{
    uc_err (*real)(uc_engine *, uint64_t, size_t, uint32_t) =
        (uc_err(*)(uc_engine *, uint64_t, size_t, uint32_t))dlsym(RTLD_NEXT, "uc_mem_map");
    uc_err err = real(uc, address, size, perms);
    trace("uc_mem_map", address, size, perms, err);
    return err;
}

uc_err uc_mem_map_ptr(uc_engine *uc, uint64_t address, size_t size, uint32_t perms, void *ptr)
{
    uc_err (*real)(uc_engine *, uint64_t, size_t, uint32_t, void *) =
        (uc_err(*)(uc_engine *, uint64_t, size_t, uint32_t, void *))dlsym(RTLD_NEXT,
                                                                          "uc_mem_map_ptr");
    uc_err err = real(uc, address, size, perms, ptr);
    trace("uc_mem_map_ptr", address, size, perms, err);
    return err;
}

uc_err uc_mem_protect(uc_engine *uc, uint64_t address, size_t size, uint32_t perms)
{
    uc_err (*real)(uc_engine *, uint64_t, size_t, uint32_t) =
        (uc_err(*)(uc_engine *, uint64_t, size_t, uint32_t))dlsym(RTLD_NEXT, "uc_mem_protect");
    uc_err err = real(uc, address, size, perms);
    trace("uc_mem_protect", address, size, perms, err);
    return err;
}
