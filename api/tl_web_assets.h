/*
 * The dashboard's static files (web/), compiled into the binary so that `techledger serve`
 * needs nothing beside it. Generated at build time by scripts/gen_assets.cmake.
 */
#ifndef TL_WEB_ASSETS_H
#define TL_WEB_ASSETS_H

#include <stddef.h>
#include <stdint.h>

typedef struct tl_web_asset {
    const char *path;         /* URL path, e.g. "/" for web/index.html, "/app.js" */
    const char *content_type; /* e.g. "text/html; charset=utf-8" */
    const uint8_t *data;
    size_t len;
} tl_web_asset;

extern const tl_web_asset tl_web_assets[];
extern const size_t tl_web_assets_count;

#endif
