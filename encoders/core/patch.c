/* Patching loaded code (<imago/enc.h>, im_lmod_patch): encode an instruction for its place
 * in a loaded module and write it with the runtime linker's im_lmod_write (W^X kept, the
 * instruction cache flushed). */
#include <string.h>

#include "core.h"
#include "form.h"
#include "imago/link.h"

int im_lmod_patch(struct im_lmod *m, uint32_t offset, size_t len, int form, const im_operand *ops)
{
    if (!m || !ops)
        return im_fail(IM_ERR_INVAL, "im_lmod_patch: NULL argument");
    im_target t = im_lmod_target(m); /* the host's, or an emulator space's target */
    const im_arch *a = im_arch_for(t);
    if (!a)
        return im_fail(IM_ERR_TARGET, "im_lmod_patch: no encoder for %s",
                       im_target_name(t) ? im_target_name(t) : "this host");
    if (form < 0 || (size_t)form >= a->nforms)
        return im_fail(IM_ERR_INVAL, "im_lmod_patch: no form %d for %s", form, im_target_name(t));
    uint32_t size = im_lmod_size(m);
    if (offset >= size)
        return im_fail(IM_ERR_RANGE,
                       "im_lmod_patch: offset 0x%x is outside module '%s' (0x%x bytes of code)",
                       offset, im_lmod_name(m), size);
    const im_form *f = &a->forms[form];
    uint64_t at = im_lmod_base(m) + offset;
    im_operand r[IM_MAX_OPS];
    for (unsigned i = 0; i < f->nops; i++) {
        r[i] = ops[i];
        if (ops[i].type == IM_OP_LABEL || ops[i].type == IM_OP_SYM ||
            (ops[i].type == IM_OP_MEM && ops[i].label >= 0 && a == &im_arch_x86))
            return im_fail(IM_ERR_INVAL,
                           "im_lmod_patch: %s operand %u names a label; loaded code takes "
                           "resolved operands (IM_OP_REL relative to the instruction)",
                           f->id, i + 1);
        /* a page-relative row (adrp) reads its target as page(target) - page(pc) */
        if ((f->flags & IM_FF_PAGE) && ops[i].type == IM_OP_REL)
            r[i].imm = im_page_delta((int64_t)at, (int64_t)(at + (uint64_t)ops[i].imm));
    }
    uint8_t code[16];
    int n = im_encode(t, form, r, code, sizeof code);
    if (n < 0)
        return n;
    if (len && (size_t)n != len)
        return im_fail(IM_ERR_INVAL,
                       "im_lmod_patch: %s encodes in %d bytes at offset 0x%x of module '%s', "
                       "where the instruction has %zu",
                       f->id, n, offset, im_lmod_name(m), len);
    return im_lmod_write(m, offset, code, (size_t)n);
}
