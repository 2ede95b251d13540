/* Relocation kinds as the loader sees them (internal, not installed). */
#ifndef IMAGO_LOADER_RELOC_H
#define IMAGO_LOADER_RELOC_H

#include "imago/img.h"

/* Size in bytes of the field a relocation kind patches on target t; 0 if the
 * kind is unknown or not valid for that target. Shared by the image reader
 * (validation) and im_section_relocate. */
unsigned im_reloc_field_size(uint32_t kind, im_target t);

#endif
