/* The shared error record; see tl_error.h. */
#include "tl_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tl_strerror(int code)
{
    switch (code) {
    case TL_OK: return "ok";
    case TL_EINVAL: return "invalid input";
    case TL_ESIG: return "bad signature";
    case TL_EDENIED: return "not authorised";
    case TL_ECONFLICT: return "conflict";
    case TL_ENOTFOUND: return "not found";
    case TL_ETOOBIG: return "limit exceeded";
    case TL_EIO: return "i/o error";
    case TL_ENOSPC: return "no space left on device";
    case TL_ENOMEM: return "out of memory";
    case TL_ECORRUPT: return "corrupt data";
    case TL_ESTATE: return "invalid state";
    case TL_EREF: return "unknown reference";
    default: return "unknown error";
    }
}

int tl_fail(tl_error *err, int code, const char *rule, const char *path, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    snprintf(err->rule, sizeof err->rule, "%s", rule ? rule : "");
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void tl_error_clear(tl_error *err)
{
    if (err != NULL)
        memset(err, 0, sizeof *err);
}

const char *tl_error_format(const tl_error *err, char *buf, size_t size)
{
    if (err->path[0] != '\0')
        snprintf(buf, size, "%s at %s: %s", err->rule, err->path, err->msg);
    else
        snprintf(buf, size, "%s: %s", err->rule, err->msg);
    return buf;
}
