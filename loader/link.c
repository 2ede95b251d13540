/* The runtime linker (<imago/link.h>): modules with exports, imports and a TOC; lazy
 * binding through per-import stubs; veneers for direct branches that cannot reach; moving,
 * hot reload with incremental relinking, patching, preserving; old code retired until no
 * registered thread can be in it (quiescent states, as user-space RCU). The memory is a
 * backend's (loader/link_internal.h): this process's arena, or an emulator's guest memory.
 *
 * A module's block (docs/loader.md):
 *   code:  [ code | veneers (16 bytes each) | lazy stubs (one per import) ]
 *   data:  [ TOC: toc_slots pointer-sized slots ]
 * A TOC slot holds its import's lazy stub until the first call through it resolves the name. */
#include "link_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "reloc.h"

#define VENEER_SLOT 16u
#define MAX_THREADS 256u

/* ---- lazy stubs: ids ---- */

/* An id names one import of one module's block: the stub passes it to im_link_lazy. Ids are
 * global (a stub cannot know its link) and live as long as the block holding the stub. */
struct lazy_desc {
    im_link *l;
    im_lmod *m;
    uint32_t imp;   /* import index in m's section */
    char *name;     /* the import's name (m may be reloaded or gone while old code runs) */
    uint32_t toc_slot;
    uint64_t slot;  /* address of its TOC slot */
    int live;       /* the slot belongs to m's current block (else a retired one) */
    int used;
};

static pthread_mutex_t g_lazy_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lazy_desc *g_desc;
static size_t g_ndesc, g_desc_cap;
static uint32_t *g_free_ids;
static size_t g_nfree, g_free_cap;

static int id_new(im_link *l, im_lmod *m, uint32_t imp, const char *iname, uint32_t toc_slot,
                  uint64_t slot, uint32_t *out)
{
    char *name = strdup(iname);
    if (!name)
        return im_fail(IM_ERR_NOMEM, "lazy stub ids");
    pthread_mutex_lock(&g_lazy_mu);
    uint32_t id;
    if (g_nfree) {
        id = g_free_ids[--g_nfree];
    } else {
        if (g_ndesc >= UINT32_MAX - 1 ||
            im_grow((void **)&g_desc, &g_desc_cap, g_ndesc + 1, sizeof *g_desc)) {
            pthread_mutex_unlock(&g_lazy_mu);
            free(name);
            return im_fail(IM_ERR_NOMEM, "lazy stub ids");
        }
        id = (uint32_t)g_ndesc++;
    }
    g_desc[id] = (struct lazy_desc){l, m, imp, name, toc_slot, slot, 1, 1};
    pthread_mutex_unlock(&g_lazy_mu);
    *out = id;
    return 0;
}

static void id_free(uint32_t id)
{
    pthread_mutex_lock(&g_lazy_mu);
    if (id < g_ndesc && g_desc[id].used &&
        !im_grow((void **)&g_free_ids, &g_free_cap, g_nfree + 1, sizeof *g_free_ids)) {
        g_desc[id].used = 0;
        free(g_desc[id].name);
        g_desc[id].name = NULL;
        g_free_ids[g_nfree++] = id;
    }
    if (g_nfree == g_ndesc) { /* every id free: give the tables back */
        free(g_desc);
        free(g_free_ids);
        g_desc = NULL;
        g_free_ids = NULL;
        g_ndesc = g_desc_cap = g_nfree = g_free_cap = 0;
    }
    pthread_mutex_unlock(&g_lazy_mu);
}

static void id_retire(uint32_t id)
{
    pthread_mutex_lock(&g_lazy_mu);
    if (id < g_ndesc)
        g_desc[id].live = 0;
    pthread_mutex_unlock(&g_lazy_mu);
}

/* ---- structures ---- */

struct host_fn {
    char *name;
    uint64_t addr;
};

struct retired {
    im_lblock b;
    uint64_t epoch;
    uint32_t *ids;
    uint32_t nids;
};

struct thread_rec {
    int used;
    uint64_t seen; /* the epoch at its last quiescent state (atomic) */
};

struct im_link {
    im_target t;
    unsigned ptr;
    im_link_backend be;
    pthread_mutex_t mu;
    im_lmod **mods;
    size_t nmods, mods_cap;
    struct host_fn *hosts;
    size_t nhosts, hosts_cap;
    im_link_unresolved_fn on_unres;
    void *on_unres_ctx;
    uint64_t epoch; /* atomic */
    struct thread_rec thr[MAX_THREADS];
    unsigned nthreads;
    struct retired *ret;
    size_t nret, ret_cap;
    size_t retired_bytes;
    unsigned lazy_count;
};

struct im_lmod {
    im_link *l;
    im_section sec; /* a private copy: the code as loaded (unrelocated), tables */
    im_lblock b;
    uint32_t veneer_off, nveneer_slots, stub_off, stub_size;
    int32_t *veneer; /* per import: its veneer index, or -1 */
    uint32_t nveneers;
    uint32_t *ids;       /* per import: its lazy stub's id */
    im_lmod **provider;  /* per import: the module it is bound to (NULL: host or lazy) */
    uint64_t *bound;     /* per import: its address when bound (0: its slot is lazy) */
    uint32_t gen;
};

/* ---- section copies ---- */

static void sec_free(im_section *s)
{
    free(s->module);
    free(s->code);
    for (uint32_t i = 0; i < s->nsyms; i++)
        free(s->syms[i].name);
    free(s->syms);
    for (uint32_t i = 0; i < s->nimports; i++)
        free(s->imports[i].name);
    free(s->imports);
    free(s->relocs);
    memset(s, 0, sizeof *s);
}

static char *dupstr(const char *s)
{
    return strdup(s ? s : "");
}

static int sec_dup(im_section *d, const im_section *s)
{
    memset(d, 0, sizeof *d);
    d->target = s->target;
    d->align = s->align ? s->align : 1;
    d->code_size = s->code_size;
    d->toc_slots = s->toc_slots;
    d->module = dupstr(s->module && *s->module ? s->module : IM_DEFAULT_MODULE);
    d->code = malloc(s->code_size ? s->code_size : 1);
    d->syms = calloc(s->nsyms ? s->nsyms : 1, sizeof *d->syms);
    d->imports = calloc(s->nimports ? s->nimports : 1, sizeof *d->imports);
    d->relocs = malloc((s->nrelocs ? s->nrelocs : 1) * sizeof *d->relocs);
    if (!d->module || !d->code || !d->syms || !d->imports || !d->relocs)
        goto nomem;
    if (s->code_size)
        memcpy(d->code, s->code, s->code_size);
    for (uint32_t i = 0; i < s->nsyms; i++) {
        d->syms[i] = s->syms[i];
        d->syms[i].name = dupstr(s->syms[i].name);
        d->nsyms = i + 1;
        if (!d->syms[i].name)
            goto nomem;
    }
    for (uint32_t i = 0; i < s->nimports; i++) {
        d->imports[i] = s->imports[i];
        d->imports[i].name = dupstr(s->imports[i].name);
        d->nimports = i + 1;
        if (!d->imports[i].name)
            goto nomem;
    }
    if (s->nrelocs)
        memcpy(d->relocs, s->relocs, s->nrelocs * sizeof *d->relocs);
    d->nrelocs = s->nrelocs;
    return 0;
nomem:
    sec_free(d);
    return im_fail(IM_ERR_NOMEM, "module copy");
}

/* Check what the loader relies on (the image reader checks more; a section built through the
 * API may not have been read). */
static int sec_check(const im_link *l, const im_section *s)
{
    const char *mod = s->module && *s->module ? s->module : IM_DEFAULT_MODULE;
    if (s->target != l->t)
        return im_fail(IM_ERR_TARGET, "module '%s' is %s code; this link space runs %s", mod,
                       im_target_name(s->target) ? im_target_name(s->target) : "unknown",
                       im_target_name(l->t));
    if (s->align & (s->align - 1) || s->align > 65536)
        return im_fail(IM_ERR_ALIGN, "module '%s': alignment %u is not a power of two <= 65536",
                       mod, s->align);
    if (s->toc_slots > 65536)
        return im_fail(IM_ERR_TOO_LARGE, "module '%s': %u TOC slots (at most 65536)", mod,
                       s->toc_slots);
    for (uint32_t i = 0; i < s->nsyms; i++)
        if (s->syms[i].offset > s->code_size || !s->syms[i].name)
            return im_fail(IM_ERR_SYMBOL, "module '%s': symbol %u is outside the code", mod, i);
    for (uint32_t i = 0; i < s->nimports; i++)
        if (s->imports[i].slot >= s->toc_slots || !s->imports[i].name || !*s->imports[i].name)
            return im_fail(IM_ERR_SYMBOL,
                           "module '%s': import %u ('%s') has slot %u of %u TOC slots", mod, i,
                           s->imports[i].name ? s->imports[i].name : "", s->imports[i].slot,
                           s->toc_slots);
    const int x64 = s->target == IM_TARGET_X86_64;
    for (uint32_t i = 0; i < s->nrelocs; i++) {
        const im_reloc *r = &s->relocs[i];
        /* x86_64's common kinds inline (im_reloc_field_size gives the same sizes) */
        unsigned size = x64 && r->kind == IM_RELOC_ABS64  ? 8
                        : x64 && r->kind == IM_RELOC_PC32 ? 4
                                                          : im_reloc_field_size(r->kind, s->target);
        if (!size)
            return im_fail(IM_ERR_RELOC, "module '%s': relocation %u at offset 0x%x: kind %u (%s) "
                           "is not a %s relocation", mod, i, r->offset, r->kind,
                           im_reloc_name(r->kind) ? im_reloc_name(r->kind) : "unknown",
                           im_target_name(s->target));
        if ((uint64_t)r->offset + size > s->code_size)
            return im_fail(IM_ERR_RELOC,
                           "module '%s': relocation %u at offset 0x%x overflows the code (0x%x "
                           "bytes)", mod, i, r->offset, s->code_size);
        int bad = r->ref == IM_REF_LOCAL ? r->symbol < -1 || r->symbol >= (int64_t)s->nsyms
                  : r->ref == IM_REF_TOC || r->ref == IM_REF_IMPORT
                      ? r->symbol < 0 || (uint32_t)r->symbol >= s->nimports
                      : 1;
        if (bad)
            return im_fail(IM_ERR_RELOC, "module '%s': relocation %u at offset 0x%x refers to %s "
                           "%d (the module has %u symbols, %u imports)", mod, i, r->offset,
                           r->ref == IM_REF_LOCAL ? "symbol" : r->ref <= IM_REF_IMPORT ? "import"
                                                                                       : "ref",
                           (int)r->symbol, s->nsyms, s->nimports);
    }
    return 0;
}

/* ---- lazy stubs, per target ---- */

static unsigned stub_size(im_target t)
{
    switch (t) {
    case IM_TARGET_X86_64: return 24;
    case IM_TARGET_I386: return 16;
    case IM_TARGET_ARM: return 16;
    case IM_TARGET_AARCH64: return 32;
    default: return 0;
    }
}

/* A stub that jumps to entry with id in the target's scratch register (see
 * im_link_backend.lazy_entry). */
static void stub_write(im_target t, uint8_t *p, uint64_t id, uint64_t entry)
{
    switch (t) {
    case IM_TARGET_X86_64:
        p[0] = 0x49, p[1] = 0xbb; /* mov r11, imm64 */
        im_put64(p + 2, id);
        p[10] = 0xff, p[11] = 0x25; /* jmp [rip + 0] */
        im_put32(p + 12, 0);
        im_put64(p + 16, entry);
        break;
    case IM_TARGET_I386:
        p[0] = 0x68; /* push id */
        im_put32(p + 1, (uint32_t)id);
        p[5] = 0x68; /* push entry */
        im_put32(p + 6, (uint32_t)entry);
        p[10] = 0xc3; /* ret: to entry, id on the stack */
        memset(p + 11, 0xcc, 5);
        break;
    case IM_TARGET_ARM:
        im_put32(p, 0xe59fc000);     /* ldr ip, [pc]  (the word at +8) */
        im_put32(p + 4, 0xe59ff000); /* ldr pc, [pc]  (the word at +12) */
        im_put32(p + 8, (uint32_t)id);
        im_put32(p + 12, (uint32_t)entry);
        break;
    case IM_TARGET_AARCH64:
        im_put32(p, 0x58000090);      /* ldr x16, .+16 */
        im_put32(p + 4, 0x580000b1);  /* ldr x17, .+20 (the word at +24) */
        im_put32(p + 8, 0xd61f0220);  /* br x17 */
        im_put32(p + 12, 0xd503201f); /* nop */
        im_put64(p + 16, id);
        im_put64(p + 24, entry);
        break;
    default: break;
    }
}

/* ---- link space ---- */

int im_link_new_backend(im_target t, const im_link_backend *be, im_link **out)
{
    if (!out || !be)
        return im_fail(IM_ERR_INVAL, "im_link_new: NULL argument");
    *out = NULL;
    if (!stub_size(t))
        return im_fail(IM_ERR_TARGET, "no runtime linker for target %d", (int)t);
    im_link *l = calloc(1, sizeof *l);
    if (!l)
        return im_fail(IM_ERR_NOMEM, "link space");
    l->t = t;
    l->ptr = im_target_ptr_size(t);
    l->be = *be;
    pthread_mutex_init(&l->mu, NULL);
    *out = l;
    return 0;
}

int im_link_new(im_target t, im_link **out)
{
    if (!out)
        return im_fail(IM_ERR_INVAL, "im_link_new: NULL argument");
    *out = NULL;
    if (t != im_host_target())
        return im_fail(IM_ERR_TARGET, "cannot link %s code natively on a %s host",
                       im_target_name(t) ? im_target_name(t) : "unknown",
                       im_target_name(im_host_target()));
    im_link_backend be;
    int err = im_arena_backend(&be);
    if (err)
        return err;
    err = im_link_new_backend(t, &be, out);
    if (err)
        be.destroy(be.ctx);
    return err;
}

const im_link_backend *im_link_get_backend(const im_link *l)
{
    return l ? &l->be : NULL;
}

im_target im_link_target(const im_link *l)
{
    return l ? l->t : IM_TARGET_NONE;
}

static void mod_free(im_lmod *m)
{
    sec_free(&m->sec);
    free(m->veneer);
    free(m->ids);
    free(m->provider);
    free(m->bound);
    free(m);
}

static void free_block_now(im_link *l, im_lblock *b, uint32_t *ids, uint32_t nids)
{
    for (uint32_t i = 0; i < nids; i++)
        id_free(ids[i]);
    l->be.release(l->be.ctx, b);
}

void im_link_free(im_link *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nret; i++) {
        free_block_now(l, &l->ret[i].b, l->ret[i].ids, l->ret[i].nids);
        free(l->ret[i].ids);
    }
    free(l->ret);
    for (size_t i = 0; i < l->nmods; i++) {
        im_lmod *m = l->mods[i];
        free_block_now(l, &m->b, m->ids, m->sec.nimports);
        mod_free(m);
    }
    free(l->mods);
    for (size_t i = 0; i < l->nhosts; i++)
        free(l->hosts[i].name);
    free(l->hosts);
    if (l->be.destroy)
        l->be.destroy(l->be.ctx);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int im_link_host(im_link *l, const char *name, uint64_t addr)
{
    if (!l || !name || !*name)
        return im_fail(IM_ERR_INVAL, "im_link_host: NULL argument or empty name");
    pthread_mutex_lock(&l->mu);
    int err = 0;
    size_t i = 0;
    while (i < l->nhosts && strcmp(l->hosts[i].name, name))
        i++;
    if (i < l->nhosts) {
        l->hosts[i].addr = addr;
    } else if (im_grow((void **)&l->hosts, &l->hosts_cap, l->nhosts + 1, sizeof *l->hosts) ||
               !(l->hosts[l->nhosts].name = strdup(name))) {
        err = im_fail(IM_ERR_NOMEM, "host function '%s'", name);
    } else {
        l->hosts[l->nhosts++].addr = addr;
    }
    pthread_mutex_unlock(&l->mu);
    return err;
}

void im_link_on_unresolved(im_link *l, im_link_unresolved_fn fn, void *ctx)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->on_unres = fn;
    l->on_unres_ctx = ctx;
    pthread_mutex_unlock(&l->mu);
}

/* ---- resolution ---- */

static int find_export(const im_section *s, const char *name, uint32_t *off)
{
    for (uint32_t i = 0; i < s->nsyms; i++)
        if (!strcmp(s->syms[i].name, name)) {
            *off = s->syms[i].offset;
            return 1;
        }
    return 0;
}

/* The address name resolves to (exports in load order, then host functions) and its
 * provider (NULL for a host function); 0 if none. skip: a module not to look in. */
static uint64_t resolve(im_link *l, const char *name, const im_lmod *skip, im_lmod **prov)
{
    for (size_t i = 0; i < l->nmods; i++) {
        im_lmod *m = l->mods[i];
        uint32_t off;
        if (m != skip && find_export(&m->sec, name, &off)) {
            if (prov)
                *prov = m;
            return m->b.code + off;
        }
    }
    for (size_t i = 0; i < l->nhosts; i++)
        if (!strcmp(l->hosts[i].name, name)) {
            if (prov)
                *prov = NULL;
            return l->hosts[i].addr;
        }
    if (prov)
        *prov = NULL;
    return 0;
}

uint64_t im_link_resolve(im_link *l, const char *name)
{
    if (!l || !name)
        return 0;
    pthread_mutex_lock(&l->mu);
    uint64_t a = resolve(l, name, NULL, NULL);
    pthread_mutex_unlock(&l->mu);
    return a;
}

static uint64_t slot_addr(const im_lmod *m, uint32_t imp)
{
    return m->b.data + (uint64_t)m->sec.imports[imp].slot * m->l->ptr;
}

static uint64_t stub_addr(const im_lmod *m, uint32_t imp)
{
    return m->b.code + m->stub_off + (uint64_t)imp * m->stub_size;
}

uint64_t im_link_lazy(uint64_t id)
{
    uint64_t a = im_link_lazy_try(id);
    if (a)
        return a;
    fprintf(stderr, "imago: %s: %s\n", im_strerror(IM_ERR_UNRESOLVED), im_detail());
    exit(70);
}

uint64_t im_link_lazy_try(uint64_t id)
{
    pthread_mutex_lock(&g_lazy_mu);
    if (id >= g_ndesc || !g_desc[id].used) {
        pthread_mutex_unlock(&g_lazy_mu);
        fprintf(stderr, "imago: a lazy stub ran with unknown id %llu\n", (unsigned long long)id);
        abort();
    }
    im_link *l = g_desc[id].l;
    pthread_mutex_unlock(&g_lazy_mu);
    /* The link's lock first, then the id again: a reload or unload (under the link's lock)
     * may have retired the stub's block meanwhile, and then m's tables are not the stub's. */
    pthread_mutex_lock(&l->mu);
    pthread_mutex_lock(&g_lazy_mu);
    struct lazy_desc d = g_desc[id];
    char name[256];
    snprintf(name, sizeof name, "%s", d.name ? d.name : "");
    pthread_mutex_unlock(&g_lazy_mu);
    im_lmod *prov = NULL;
    uint64_t a = resolve(l, name, NULL, &prov);
    if (a) {
        l->be.store(l->be.ctx, d.slot, a, l->ptr);
        if (d.live) {
            d.m->provider[d.imp] = prov;
            d.m->bound[d.imp] = a;
        }
        l->lazy_count++;
        pthread_mutex_unlock(&l->mu);
        return a;
    }
    char mod[128];
    snprintf(mod, sizeof mod, "%s", d.live ? d.m->sec.module : "(unloaded or reloaded)");
    im_link_unresolved_fn fn = l->on_unres;
    void *ctx = l->on_unres_ctx;
    pthread_mutex_unlock(&l->mu);
    im_fail(IM_ERR_UNRESOLVED,
            "module '%s' called import '%s' (TOC slot %u): no module exports it and no host "
            "function of that name is registered",
            mod, name, d.toc_slot);
    if (fn)
        fn(mod, name, d.toc_slot, ctx);
    return 0;
}

/* ---- building a block ---- */

/* Does relocation r of m take a veneer when it cannot reach its import? */
static int veneerable(const im_lmod *m, const im_reloc *r)
{
    return r->ref == IM_REF_IMPORT && im_veneer_size(m->sec.target) &&
           im_reloc_veneerable(m->sec.target, r->kind, m->sec.code, r->offset);
}

/* Lay out m's block for its section: veneer slots for the imports that direct branches
 * reach, one stub per import. */
static int layout(im_lmod *m)
{
    const im_section *s = &m->sec;
    free(m->veneer);
    m->veneer = malloc((s->nimports ? s->nimports : 1) * sizeof *m->veneer);
    if (!m->veneer)
        return im_fail(IM_ERR_NOMEM, "veneers");
    for (uint32_t i = 0; i < s->nimports; i++)
        m->veneer[i] = -1;
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->nrelocs; i++) {
        const im_reloc *r = &s->relocs[i];
        if (veneerable(m, r) && m->veneer[r->symbol] < 0)
            m->veneer[r->symbol] = (int32_t)n++;
    }
    /* Slots are reserved for every import a branch may need; only used ones are written. */
    for (uint32_t i = 0; i < s->nimports; i++)
        if (m->veneer[i] >= 0)
            m->veneer[i] = -2 - m->veneer[i]; /* reserved, not yet written */
    m->nveneer_slots = n;
    m->veneer_off = (s->code_size + 15u) & ~15u;
    m->stub_size = stub_size(s->target);
    m->stub_off = m->veneer_off + n * VENEER_SLOT;
    return 0;
}

static size_t block_code_size(const im_lmod *m)
{
    return (size_t)m->stub_off + (size_t)m->sec.nimports * m->stub_size;
}

static size_t block_data_size(const im_lmod *m)
{
    return (size_t)m->sec.toc_slots * m->l->ptr;
}

static int reloc_error(const im_lmod *m, uint32_t i, const im_reloc *r, int err)
{
    char why[256];
    snprintf(why, sizeof why, "%s", im_detail());
    const char *what = r->ref == IM_REF_LOCAL
                           ? (r->symbol < 0 ? ".text" : m->sec.syms[r->symbol].name)
                           : m->sec.imports[r->symbol].name;
    return im_fail(err, "module '%s' (%s): relocation %u (%s) at offset 0x%x against %s%s: %s",
                   m->sec.module, im_target_name(m->sec.target), i,
                   im_reloc_name(r->kind) ? im_reloc_name(r->kind) : "?", r->offset,
                   r->ref == IM_REF_TOC ? "the TOC slot of " : "", what, why);
}

/* Apply relocation i of m into w (the writable view of m's code block at address m->b.code).
 * Branches to imports that cannot reach go through a veneer. */
static int apply_one(im_lmod *m, uint8_t *w, uint32_t i)
{
    const im_reloc *r = &m->sec.relocs[i];
    const im_section *s = &m->sec;
    uint64_t S;
    switch (r->ref) {
    case IM_REF_LOCAL: S = m->b.code + (r->symbol < 0 ? 0 : s->syms[r->symbol].offset); break;
    case IM_REF_TOC: S = slot_addr(m, (uint32_t)r->symbol); break;
    default: S = m->bound[r->symbol]; break;
    }
    uint64_t P = m->b.code + r->offset;
    int err = im_reloc_apply(s->target, r->kind, w + r->offset, P, S + (uint64_t)r->addend);
    if (!err || r->ref != IM_REF_IMPORT || !veneerable(m, r))
        return err ? reloc_error(m, i, r, err) : 0;
    /* Through a veneer: written once per import, next to the code. */
    int32_t v = m->veneer[r->symbol];
    if (v < 0)
        v = m->veneer[r->symbol] = -2 - v;
    uint64_t va = m->b.code + m->veneer_off + (uint64_t)v * VENEER_SLOT;
    im_veneer_write(s->target, w + m->veneer_off + (size_t)v * VENEER_SLOT, va, S);
    err = im_reloc_apply(s->target, r->kind, w + r->offset, P, va + (uint64_t)r->addend);
    return err ? reloc_error(m, i, r, err) : 0;
}

/* The common x86_64 relocations (ABS64 and PC32 against the module or a TOC slot) done
 * inline, relying on what sec_check checked (kind, field within the code, symbol or import
 * index): 1 when r was applied, 0 when apply_one must do it (another target, kind or ref, or
 * a PC32 value out of range, which apply_one then reports). */
static inline int apply_fast(const im_lmod *m, uint8_t *w, const im_reloc *r)
{
    const im_section *s = &m->sec;
    if (s->target != IM_TARGET_X86_64)
        return 0;
    uint64_t S;
    if (r->ref == IM_REF_LOCAL)
        S = m->b.code + (r->symbol < 0 ? 0 : s->syms[r->symbol].offset);
    else if (r->ref == IM_REF_TOC)
        S = m->b.data + (uint64_t)s->imports[r->symbol].slot * 8u;
    else
        return 0;
    return im_reloc_x86_64_fast(r->kind, w + r->offset, m->b.code + r->offset,
                                S + (uint64_t)r->addend);
}

/* Bind m's direct (IM_REF_IMPORT) imports now: each must resolve. */
static int bind_direct(im_lmod *m)
{
    for (uint32_t i = 0; i < m->sec.nrelocs; i++) {
        const im_reloc *r = &m->sec.relocs[i];
        if (r->ref != IM_REF_IMPORT)
            continue;
        uint32_t imp = (uint32_t)r->symbol;
        im_lmod *prov;
        uint64_t a = resolve(m->l, m->sec.imports[imp].name, NULL, &prov);
        if (!a)
            return im_fail(IM_ERR_UNRESOLVED,
                           "module '%s': import '%s' (called directly at offset 0x%x) is "
                           "exported by no module and registered as no host function",
                           m->sec.module, m->sec.imports[imp].name, r->offset);
        m->bound[imp] = a;
        m->provider[imp] = prov;
    }
    return 0;
}

/* Write m's whole block: code (from src, or the section's code), veneers, stubs, TOC, every
 * relocation. m->b is allocated; ids are allocated for the stubs. */
static int build(im_lmod *m, const uint8_t *src)
{
    im_link *l = m->l;
    const im_section *s = &m->sec;
    size_t n = block_code_size(m);
    for (uint32_t i = 0; i < s->nimports; i++) {
        int err = id_new(l, m, i, s->imports[i].name, s->imports[i].slot, slot_addr(m, i),
                         &m->ids[i]);
        if (err) {
            while (i--)
                id_free(m->ids[i]);
            return err;
        }
    }
    uint8_t *w = l->be.wbegin(l->be.ctx, &m->b, 0, n);
    if (!w) {
        for (uint32_t i = 0; i < s->nimports; i++)
            id_free(m->ids[i]);
        return IM_ERR_SYS;
    }
    if (s->code_size)
        memcpy(w, src ? src : s->code, s->code_size);
    memset(w + s->code_size, 0, n - s->code_size);
    for (uint32_t i = 0; i < s->nimports; i++)
        stub_write(s->target, w + m->stub_off + (size_t)i * m->stub_size, m->ids[i],
                   l->be.lazy_entry);
    for (uint32_t i = 0; i < s->toc_slots; i++)
        l->be.store(l->be.ctx, m->b.data + (uint64_t)i * l->ptr, 0, l->ptr);
    for (uint32_t i = 0; i < s->nimports; i++) {
        uint64_t v = m->bound[i] ? m->bound[i] : stub_addr(m, i);
        l->be.store(l->be.ctx, slot_addr(m, i), v, l->ptr);
    }
    int err = 0;
    for (uint32_t i = 0; i < s->nrelocs && !err; i++)
        if (!apply_fast(m, w, &s->relocs[i]))
            err = apply_one(m, w, i);
    int e2 = l->be.wend(l->be.ctx, &m->b, 0, n);
    if (!err)
        err = e2;
    if (!err)
        return 0;
    for (uint32_t i = 0; i < s->nimports; i++)
        id_free(m->ids[i]);
    return err;
}

/* ---- retiring and collecting ---- */

static void retire(im_link *l, im_lblock *b, uint32_t *ids, uint32_t nids)
{
    for (uint32_t i = 0; i < nids; i++)
        id_retire(ids[i]);
    uint64_t e = __atomic_add_fetch(&l->epoch, 1, __ATOMIC_SEQ_CST);
    if (im_grow((void **)&l->ret, &l->ret_cap, l->nret + 1, sizeof *l->ret)) {
        /* No room to remember it: leak the block rather than free code a thread may run. */
        free(ids);
        return;
    }
    l->ret[l->nret++] = (struct retired){*b, e, ids, nids};
    l->retired_bytes += b->code_size + b->data_size;
}

static size_t collect_locked(im_link *l)
{
    uint64_t min = UINT64_MAX;
    for (unsigned i = 0; i < MAX_THREADS; i++)
        if (__atomic_load_n(&l->thr[i].used, __ATOMIC_ACQUIRE)) {
            uint64_t s = __atomic_load_n(&l->thr[i].seen, __ATOMIC_ACQUIRE);
            if (s < min)
                min = s;
        }
    size_t k = 0;
    for (size_t i = 0; i < l->nret; i++) {
        struct retired *r = &l->ret[i];
        if (r->epoch <= min) {
            l->retired_bytes -= r->b.code_size + r->b.data_size;
            free_block_now(l, &r->b, r->ids, r->nids);
            free(r->ids);
        } else {
            l->ret[k++] = *r;
        }
    }
    l->nret = k;
    return l->retired_bytes;
}

size_t im_link_collect(im_link *l)
{
    if (!l)
        return 0;
    pthread_mutex_lock(&l->mu);
    size_t n = collect_locked(l);
    pthread_mutex_unlock(&l->mu);
    return n;
}

/* ---- threads ---- */

static __thread struct {
    im_link *l;
    unsigned idx;
} tls_rec[8];

int im_link_thread_enter(im_link *l)
{
    if (!l)
        return im_fail(IM_ERR_INVAL, "im_link_thread_enter: NULL link");
    unsigned slot = 8;
    for (unsigned i = 0; i < 8; i++) {
        if (tls_rec[i].l == l)
            return 0; /* already in */
        if (!tls_rec[i].l && slot == 8)
            slot = i;
    }
    if (slot == 8)
        return im_fail(IM_ERR_TOO_LARGE, "a thread may be in at most 8 link spaces at once");
    pthread_mutex_lock(&l->mu);
    unsigned i = 0;
    while (i < MAX_THREADS && l->thr[i].used)
        i++;
    if (i == MAX_THREADS) {
        pthread_mutex_unlock(&l->mu);
        return im_fail(IM_ERR_TOO_LARGE, "more than %u threads in one link space", MAX_THREADS);
    }
    __atomic_store_n(&l->thr[i].seen, __atomic_load_n(&l->epoch, __ATOMIC_SEQ_CST),
                     __ATOMIC_SEQ_CST);
    __atomic_store_n(&l->thr[i].used, 1, __ATOMIC_SEQ_CST);
    l->nthreads++;
    pthread_mutex_unlock(&l->mu);
    tls_rec[slot].l = l;
    tls_rec[slot].idx = i;
    return 0;
}

void im_link_quiescent(im_link *l)
{
    for (unsigned i = 0; i < 8; i++)
        if (tls_rec[i].l == l) {
            __atomic_store_n(&l->thr[tls_rec[i].idx].seen,
                             __atomic_load_n(&l->epoch, __ATOMIC_SEQ_CST), __ATOMIC_SEQ_CST);
            return;
        }
}

void im_link_thread_leave(im_link *l)
{
    for (unsigned i = 0; i < 8; i++)
        if (tls_rec[i].l == l) {
            pthread_mutex_lock(&l->mu);
            __atomic_store_n(&l->thr[tls_rec[i].idx].used, 0, __ATOMIC_SEQ_CST);
            l->nthreads--;
            collect_locked(l);
            pthread_mutex_unlock(&l->mu);
            tls_rec[i].l = NULL;
            return;
        }
}

/* ---- loading ---- */

static int mod_arrays(im_lmod *m)
{
    uint32_t n = m->sec.nimports ? m->sec.nimports : 1;
    m->ids = calloc(n, sizeof *m->ids);
    m->provider = calloc(n, sizeof *m->provider);
    m->bound = calloc(n, sizeof *m->bound);
    if (!m->ids || !m->provider || !m->bound)
        return im_fail(IM_ERR_NOMEM, "module tables");
    return 0;
}

static im_lmod *find_module(const im_link *l, const char *name)
{
    for (size_t i = 0; i < l->nmods; i++)
        if (!strcmp(l->mods[i]->sec.module, name))
            return l->mods[i];
    return NULL;
}

/* Re-point every bound import of every module but skip at what its name resolves to now
 * (after a module was reloaded, moved or unloaded); re-apply the direct branches of those
 * that changed. Slots still at their lazy stub stay lazy. */
static int relink(im_link *l, const im_lmod *skip)
{
    int first_err = 0;
    for (size_t k = 0; k < l->nmods; k++) {
        im_lmod *u = l->mods[k];
        if (u == skip)
            continue;
        int changed_direct = 0;
        for (uint32_t i = 0; i < u->sec.nimports; i++) {
            if (!u->bound[i])
                continue;
            im_lmod *prov;
            uint64_t a = resolve(l, u->sec.imports[i].name, NULL, &prov);
            u->provider[i] = prov;
            if (a == u->bound[i])
                continue;
            uint64_t slot = slot_addr(u, i);
            uint64_t cur = l->be.load(l->be.ctx, slot, l->ptr);
            if (cur != stub_addr(u, i))
                l->be.store(l->be.ctx, slot, a ? a : stub_addr(u, i), l->ptr);
            u->bound[i] = a;
            for (uint32_t r = 0; r < u->sec.nrelocs; r++)
                if (u->sec.relocs[r].ref == IM_REF_IMPORT && (uint32_t)u->sec.relocs[r].symbol == i)
                    changed_direct = 1;
        }
        if (!changed_direct)
            continue;
        size_t n = block_code_size(u);
        uint8_t *w = l->be.wbegin(l->be.ctx, &u->b, 0, n);
        if (!w) {
            if (!first_err)
                first_err = IM_ERR_SYS;
            continue;
        }
        for (uint32_t r = 0; r < u->sec.nrelocs; r++) {
            if (u->sec.relocs[r].ref != IM_REF_IMPORT)
                continue;
            int err = u->bound[u->sec.relocs[r].symbol] ? apply_one(u, w, r)
                                                        : im_fail(IM_ERR_UNRESOLVED,
                                                                  "module '%s': import '%s' "
                                                                  "no longer resolves",
                                                                  u->sec.module,
                                                                  u->sec.imports[u->sec.relocs[r].symbol].name);
            if (err && !first_err)
                first_err = err;
        }
        int err = l->be.wend(l->be.ctx, &u->b, 0, n);
        if (err && !first_err)
            first_err = err;
    }
    return first_err;
}

int im_link_load(im_link *l, const im_section *sec, uint64_t addr, im_lmod **out)
{
    if (out)
        *out = NULL;
    if (!l || !sec)
        return im_fail(IM_ERR_INVAL, "im_link_load: NULL argument");
    int err = sec_check(l, sec);
    if (err)
        return err;
    im_lmod *m = calloc(1, sizeof *m);
    if (!m)
        return im_fail(IM_ERR_NOMEM, "module");
    m->l = l;
    if ((err = sec_dup(&m->sec, sec)) || (err = mod_arrays(m)) || (err = layout(m))) {
        mod_free(m);
        return err;
    }
    pthread_mutex_lock(&l->mu);
    if (find_module(l, m->sec.module)) {
        err = im_fail(IM_ERR_INVAL, "a module named '%s' is already loaded (reload it instead)",
                      m->sec.module);
    } else if (im_grow((void **)&l->mods, &l->mods_cap, l->nmods + 1, sizeof *l->mods)) {
        err = im_fail(IM_ERR_NOMEM, "module list");
    } else if (!(err = bind_direct(m))) {
        err = l->be.alloc(l->be.ctx, block_code_size(m), block_data_size(m),
                          m->sec.align > 16 ? m->sec.align : 16, addr, &m->b);
        if (!err) {
            err = build(m, NULL);
            if (err)
                l->be.release(l->be.ctx, &m->b);
        }
    }
    if (err) {
        pthread_mutex_unlock(&l->mu);
        mod_free(m);
        return err;
    }
    l->mods[l->nmods++] = m;
    /* Imports of earlier modules bound elsewhere keep their binding (load order decides
     * only for names not yet bound). */
    pthread_mutex_unlock(&l->mu);
    if (out)
        *out = m;
    return 0;
}

static void unload_locked(im_lmod *m)
{
    im_link *l = m->l;
    size_t i = 0;
    while (i < l->nmods && l->mods[i] != m)
        i++;
    if (i < l->nmods) {
        memmove(&l->mods[i], &l->mods[i + 1], (l->nmods - i - 1) * sizeof *l->mods);
        l->nmods--;
    }
    retire(l, &m->b, m->ids, m->sec.nimports);
    m->ids = NULL;
    mod_free(m);
    collect_locked(l);
}

static unsigned users_locked(const im_lmod *m)
{
    const im_link *l = m->l;
    unsigned n = 0;
    for (size_t k = 0; k < l->nmods; k++) {
        const im_lmod *u = l->mods[k];
        if (u == m)
            continue;
        for (uint32_t i = 0; i < u->sec.nimports; i++)
            if (u->bound[i] && u->provider[i] == m) {
                n++;
                break;
            }
    }
    return n;
}

unsigned im_lmod_users(const im_lmod *m)
{
    if (!m)
        return 0;
    pthread_mutex_lock(&m->l->mu);
    unsigned n = users_locked(m);
    pthread_mutex_unlock(&m->l->mu);
    return n;
}

int im_lmod_unload(im_lmod *m)
{
    if (!m)
        return im_fail(IM_ERR_INVAL, "im_lmod_unload: NULL module");
    im_link *l = m->l;
    pthread_mutex_lock(&l->mu);
    unsigned n = users_locked(m);
    if (n) {
        int err = im_fail(IM_ERR_BUSY, "module '%s' still has %u user%s (modules bound to its "
                          "exports)", m->sec.module, n, n == 1 ? "" : "s");
        pthread_mutex_unlock(&l->mu);
        return err;
    }
    unload_locked(m);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

int im_link_load_image(im_link *l, const im_image *img)
{
    if (!l || !img)
        return im_fail(IM_ERR_INVAL, "im_link_load_image: NULL argument");
    im_lmod **done = calloc(img->nsections ? img->nsections : 1, sizeof *done);
    if (!done)
        return im_fail(IM_ERR_NOMEM, "module list");
    /* In image order; a section whose direct import is exported by a later one waits for it
     * (rounds until no section loads). */
    uint8_t *left = calloc(img->nsections ? img->nsections : 1, 1);
    size_t n = 0, pending = 0;
    int err = left ? 0 : im_fail(IM_ERR_NOMEM, "module list");
    for (uint32_t i = 0; i < img->nsections && left; i++)
        if (img->sections[i].target == l->t)
            left[i] = 1, pending++;
    while (!err && pending) {
        size_t before = pending;
        int last = 0;
        for (uint32_t i = 0; i < img->nsections && !err; i++) {
            if (!left[i])
                continue;
            im_lmod *m = NULL;
            int e = im_link_load(l, &img->sections[i], 0, &m);
            if (!e) {
                done[n++] = m;
                left[i] = 0;
                pending--;
            } else if (e != IM_ERR_UNRESOLVED) {
                err = e;
            } else {
                last = e;
            }
        }
        if (!err && pending == before)
            err = last; /* the detail names the first import no round could bind */
    }
    free(left);
    if (!err && !n)
        err = im_fail(IM_ERR_NOSECTION, "the image has no %s section", im_target_name(l->t));
    if (err) {
        pthread_mutex_lock(&l->mu);
        while (n--)
            if (done[n])
                unload_locked(done[n]);
        relink(l, NULL);
        pthread_mutex_unlock(&l->mu);
    }
    free(done);
    return err;
}

/* ---- accessors ---- */

im_lmod *im_link_module(const im_link *l, const char *name)
{
    if (!l || !name)
        return NULL;
    pthread_mutex_lock((pthread_mutex_t *)&l->mu);
    im_lmod *m = find_module(l, name);
    pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
    return m;
}

im_target im_lmod_target(const im_lmod *m)
{
    return m ? m->sec.target : IM_TARGET_NONE;
}

const char *im_lmod_name(const im_lmod *m)
{
    return m ? m->sec.module : NULL;
}

uint64_t im_lmod_base(const im_lmod *m)
{
    return m ? m->b.code : 0;
}

uint32_t im_lmod_size(const im_lmod *m)
{
    return m ? m->sec.code_size : 0;
}

uint64_t im_lmod_toc(const im_lmod *m)
{
    return m ? m->b.data : 0;
}

uint32_t im_lmod_generation(const im_lmod *m)
{
    return m ? m->gen : 0;
}

uint64_t im_lmod_symbol(const im_lmod *m, const char *name)
{
    if (!m || !name)
        return 0;
    pthread_mutex_lock(&m->l->mu);
    uint32_t off;
    uint64_t a = find_export(&m->sec, name, &off) ? m->b.code + off : 0;
    pthread_mutex_unlock(&m->l->mu);
    if (!a)
        im_fail(IM_ERR_NOSYM, "module '%s' exports no '%s'", m->sec.module, name);
    return a;
}

int im_link_check(im_link *l)
{
    if (!l)
        return im_fail(IM_ERR_INVAL, "im_link_check: NULL link");
    pthread_mutex_lock(&l->mu);
    int err = 0;
    for (size_t k = 0; k < l->nmods && !err; k++) {
        const im_lmod *m = l->mods[k];
        for (uint32_t i = 0; i < m->sec.nimports && !err; i++)
            if (!resolve(l, m->sec.imports[i].name, NULL, NULL))
                err = im_fail(IM_ERR_UNRESOLVED,
                              "module '%s': import '%s' (TOC slot %u) is exported by no module "
                              "and registered as no host function",
                              m->sec.module, m->sec.imports[i].name, m->sec.imports[i].slot);
    }
    pthread_mutex_unlock(&l->mu);
    return err;
}

void im_link_get_stats(const im_link *l, im_link_stats *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof *st);
    if (!l)
        return;
    pthread_mutex_lock((pthread_mutex_t *)&l->mu);
    st->arena_bytes = l->be.mapped ? l->be.mapped(l->be.ctx) : 0;
    for (size_t k = 0; k < l->nmods; k++)
        st->arena_used += l->mods[k]->b.code_size + l->mods[k]->b.data_size;
    st->retired_bytes = l->retired_bytes;
    st->modules = (unsigned)l->nmods;
    st->lazy_resolutions = l->lazy_count;
    pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
}

/* ---- moving ---- */

int im_lmod_move(im_lmod *m, uint64_t addr)
{
    if (!m)
        return im_fail(IM_ERR_INVAL, "im_lmod_move: NULL module");
    im_link *l = m->l;
    pthread_mutex_lock(&l->mu);
    uint8_t *cur = malloc(m->sec.code_size ? m->sec.code_size : 1);
    uint32_t *ids = calloc(m->sec.nimports ? m->sec.nimports : 1, sizeof *ids);
    int err = !cur || !ids ? im_fail(IM_ERR_NOMEM, "module move") : 0;
    if (!err && m->sec.code_size)
        err = l->be.read(l->be.ctx, &m->b, 0, cur, m->sec.code_size);
    im_lblock old = m->b, nb;
    if (!err)
        err = l->be.alloc(l->be.ctx, old.code_size, old.data_size,
                          m->sec.align > 16 ? m->sec.align : 16, addr, &nb);
    if (err) {
        free(cur);
        free(ids);
        pthread_mutex_unlock(&l->mu);
        return err;
    }
    uint32_t *old_ids = m->ids;
    uint64_t *old_bound = malloc((m->sec.nimports ? m->sec.nimports : 1) * sizeof *old_bound);
    if (!old_bound) {
        l->be.release(l->be.ctx, &nb);
        free(cur);
        free(ids);
        pthread_mutex_unlock(&l->mu);
        return im_fail(IM_ERR_NOMEM, "module move");
    }
    memcpy(old_bound, m->bound, m->sec.nimports * sizeof *old_bound);
    /* Slots bound (lazily or directly) keep their binding; those into m itself move with it. */
    for (uint32_t i = 0; i < m->sec.nimports; i++) {
        uint64_t v = l->be.load(l->be.ctx, slot_addr(m, i), l->ptr);
        if (v == stub_addr(m, i))
            m->bound[i] = m->bound[i] && m->provider[i] == m ? m->bound[i] : 0;
        if (m->bound[i] && m->provider[i] == m)
            m->bound[i] = m->bound[i] - old.code + nb.code;
        /* a slot still lazy stays lazy unless a direct branch bound it */
    }
    /* Keep lazy slots lazy: only imports bound before (a resolved slot or a direct branch). */
    m->b = nb;
    m->ids = ids;
    err = build(m, cur);
    free(cur);
    if (err) {
        l->be.release(l->be.ctx, &nb);
        m->b = old;
        m->ids = old_ids;
        memcpy(m->bound, old_bound, m->sec.nimports * sizeof *old_bound);
        free(ids);
        free(old_bound);
        pthread_mutex_unlock(&l->mu);
        return err;
    }
    free(old_bound);
    /* Users first, then the old block goes (retired: a thread may still be in it). */
    err = relink(l, m);
    retire(l, &old, old_ids, m->sec.nimports);
    collect_locked(l);
    pthread_mutex_unlock(&l->mu);
    return err;
}

/* ---- hot reload ---- */

/* Relocate sec's code for m's layout at m->b into a scratch copy: the reload checks every
 * relocation fits before it touches code in place. */
static int dry_run(im_lmod *m)
{
    size_t n = block_code_size(m);
    uint8_t *w = calloc(1, n ? n : 1);
    if (!w)
        return im_fail(IM_ERR_NOMEM, "reload check");
    if (m->sec.code_size)
        memcpy(w, m->sec.code, m->sec.code_size);
    int err = 0;
    for (uint32_t i = 0; i < m->sec.nrelocs && !err; i++)
        if (!apply_fast(m, w, &m->sec.relocs[i]))
            err = apply_one(m, w, i);
    /* apply_one marks veneers written; the real build writes them again */
    for (uint32_t i = 0; i < m->sec.nimports; i++)
        if (m->veneer[i] >= 0)
            m->veneer[i] = -2 - m->veneer[i];
    free(w);
    return err;
}

int im_lmod_reload(im_lmod *m, const im_section *sec, int *in_place)
{
    if (in_place)
        *in_place = 0;
    if (!m || !sec)
        return im_fail(IM_ERR_INVAL, "im_lmod_reload: NULL argument");
    im_link *l = m->l;
    int err = sec_check(l, sec);
    if (err)
        return err;
    im_lmod n;
    memset(&n, 0, sizeof n);
    n.l = l;
    if ((err = sec_dup(&n.sec, sec)))
        return err;
    free(n.sec.module);
    n.sec.module = strdup(m->sec.module);
    if (!n.sec.module || (err = mod_arrays(&n)) || (err = layout(&n))) {
        sec_free(&n.sec);
        free(n.ids);
        free(n.provider);
        free(n.bound);
        free(n.veneer);
        return err ? err : im_fail(IM_ERR_NOMEM, "module name");
    }
    pthread_mutex_lock(&l->mu);
    /* Users that branch directly to names m exports must still find them. */
    for (size_t k = 0; k < l->nmods && !err; k++) {
        const im_lmod *u = l->mods[k];
        for (uint32_t r = 0; r < u->sec.nrelocs && !err; r++) {
            const im_reloc *rr = &u->sec.relocs[r];
            if (u == m || rr->ref != IM_REF_IMPORT || u->provider[rr->symbol] != m)
                continue;
            uint32_t off;
            const char *name = u->sec.imports[rr->symbol].name;
            if (!find_export(&n.sec, name, &off) && !resolve(l, name, m, NULL))
                err = im_fail(IM_ERR_UNRESOLVED,
                              "reloading '%s': module '%s' calls '%s' directly, which the new "
                              "code does not export",
                              m->sec.module, u->sec.module, name);
        }
    }
    im_lmod old = *m;
    int fits = 0;
    if (!err) {
        fits = block_code_size(&n) <= old.b.code_size && block_data_size(&n) <= old.b.data_size &&
               l->nthreads == 0;
        /* m takes the new section; its handle stays the same */
        m->sec = n.sec;
        m->ids = n.ids;
        m->provider = n.provider;
        m->bound = n.bound;
        m->veneer = n.veneer;
        m->veneer_off = n.veneer_off;
        m->nveneer_slots = n.nveneer_slots;
        m->stub_off = n.stub_off;
        m->stub_size = n.stub_size;
        if (fits) {
            m->b = old.b;
        } else {
            err = l->be.alloc(l->be.ctx, block_code_size(m), block_data_size(m),
                              m->sec.align > 16 ? m->sec.align : 16, 0, &m->b);
        }
        if (!err)
            err = bind_direct(m);
        if (!err && fits)
            err = dry_run(m);
        if (err) {
            /* nothing written yet: m is as it was */
            if (!fits && m->b.h)
                l->be.release(l->be.ctx, &m->b);
            sec_free(&m->sec);
            free(m->ids);
            free(m->provider);
            free(m->bound);
            free(m->veneer);
            *m = old;
            pthread_mutex_unlock(&l->mu);
            return err;
        }
        if (fits) /* no thread can be in the old code: its stubs go now */
            for (uint32_t i = 0; i < old.sec.nimports; i++)
                id_free(old.ids[i]);
        err = build(m, NULL);
        if (err && !fits) {
            l->be.release(l->be.ctx, &m->b);
            sec_free(&m->sec);
            free(m->ids);
            free(m->provider);
            free(m->bound);
            free(m->veneer);
            *m = old;
            pthread_mutex_unlock(&l->mu);
            return err;
        }
        /* In place, a build can fail after the dry run only on a system error (the pages
         * could not be made writable): the module then holds the new tables over whatever
         * was written, and the error says so. */
    } else {
        sec_free(&n.sec);
        free(n.ids);
        free(n.provider);
        free(n.bound);
        free(n.veneer);
        pthread_mutex_unlock(&l->mu);
        return err;
    }
    m->gen = old.gen + 1;
    /* Users first: the old block is retired (its epoch taken) only once no TOC slot or
     * direct branch leads into it any more, so a thread quiescent after the retirement
     * cannot reach it. */
    int e2 = relink(l, m);
    if (!fits)
        retire(l, &old.b, old.ids, old.sec.nimports);
    else
        free(old.ids);
    old.ids = NULL;
    sec_free(&old.sec);
    free(old.provider);
    free(old.bound);
    free(old.veneer);
    collect_locked(l);
    pthread_mutex_unlock(&l->mu);
    if (in_place)
        *in_place = fits;
    return err ? err : e2;
}

/* ---- patching ---- */

int im_lmod_write(im_lmod *m, uint32_t offset, const void *bytes, size_t len)
{
    if (!m || (!bytes && len))
        return im_fail(IM_ERR_INVAL, "im_lmod_write: NULL argument");
    im_link *l = m->l;
    pthread_mutex_lock(&l->mu);
    int err = 0;
    if ((uint64_t)offset + len > m->sec.code_size) {
        err = im_fail(IM_ERR_RANGE, "module '%s': writing 0x%zx bytes at offset 0x%x runs past "
                      "its 0x%x bytes of code", m->sec.module, len, offset, m->sec.code_size);
    } else if (len) {
        uint8_t *w = l->be.wbegin(l->be.ctx, &m->b, offset, len);
        if (!w) {
            err = IM_ERR_SYS;
        } else {
            memcpy(w, bytes, len);
            err = l->be.wend(l->be.ctx, &m->b, offset, len);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return err;
}

int im_lmod_read(const im_lmod *m, uint32_t offset, void *bytes, size_t len)
{
    if (!m || (!bytes && len))
        return im_fail(IM_ERR_INVAL, "im_lmod_read: NULL argument");
    if ((uint64_t)offset + len > m->sec.code_size)
        return im_fail(IM_ERR_RANGE, "module '%s': reading 0x%zx bytes at offset 0x%x runs past "
                       "its 0x%x bytes of code", m->sec.module, len, offset, m->sec.code_size);
    return len ? m->l->be.read(m->l->be.ctx, &m->b, offset, bytes, len) : 0;
}

/* ---- preserving ---- */

int im_link_preserve(const im_link *l, im_image **out)
{
    if (!l || !out)
        return im_fail(IM_ERR_INVAL, "im_link_preserve: NULL argument");
    *out = NULL;
    im_image *img = im_img_new();
    if (!img)
        return im_fail(IM_ERR_NOMEM, "image");
    pthread_mutex_lock((pthread_mutex_t *)&l->mu);
    int err = 0;
    for (size_t k = 0; k < l->nmods && !err; k++) {
        const im_lmod *m = l->mods[k];
        uint8_t *code = malloc(m->sec.code_size ? m->sec.code_size : 1);
        if (!code) {
            err = im_fail(IM_ERR_NOMEM, "preserved code");
            break;
        }
        err = m->sec.code_size ? l->be.read(l->be.ctx, &m->b, 0, code, m->sec.code_size) : 0;
        /* Relocated fields go back to what they held unrelocated; patches elsewhere stay. */
        for (uint32_t i = 0; i < m->sec.nrelocs && !err; i++) {
            const im_reloc *r = &m->sec.relocs[i];
            unsigned size = im_reloc_field_size(r->kind, m->sec.target);
            memcpy(code + r->offset, m->sec.code + r->offset, size);
        }
        if (!err) {
            im_section s = m->sec;
            s.code = code;
            err = im_img_add_section(img, &s);
        }
        free(code);
    }
    pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
    if (err) {
        im_img_free(img);
        return err;
    }
    *out = img;
    return 0;
}
