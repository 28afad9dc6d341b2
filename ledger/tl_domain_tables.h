/* Tables generated at build time from data/ (see scripts/gen_regions.cmake). */
#ifndef TL_DOMAIN_TABLES_H
#define TL_DOMAIN_TABLES_H
#include <stddef.h>
#include <stdint.h>

typedef struct tl_province_name {
    const char *code; /* two digits, e.g. "11" */
    const char *name; /* e.g. "北京市" */
} tl_province_name;

/* Every valid GB/T 2260 code as a six-digit number, sorted ascending. */
extern const uint32_t tl_region_codes[];
extern const size_t tl_region_codes_count;
extern const tl_province_name tl_province_names[];
extern const size_t tl_province_names_count;

#endif
