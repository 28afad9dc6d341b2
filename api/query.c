/*
 * Query strings and paths from request URIs. Strict on purpose: a parameter the route does not
 * know, a repeated one, a malformed escape or a number with a sign or a fraction is an error
 * naming the parameter, never silently ignored, so a typo like ?limt=5 cannot look like success.
 */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes raw[0..len) into out (cap bytes incl. NUL). plus: '+' means space. */
static int decode(char *out, size_t cap, const char *raw, size_t len, bool plus, const char *rule,
                  const char *path, tl_error *err)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)raw[i];
        if (c == '%') {
            if (i + 2 >= len) /* fewer than two characters follow */
                return tl_fail(err, TL_EINVAL, rule, path, "a '%%' escape needs two hex digits");
            int h = hexval(raw[i + 1]), l = hexval(raw[i + 2]);
            if (h < 0 || l < 0)
                return tl_fail(err, TL_EINVAL, rule, path, "a '%%' escape needs two hex digits");
            c = h * 16 + l;
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c < 0x20 || c == 0x7f)
            return tl_fail(err, TL_EINVAL, rule, path, "control characters are not allowed");
        if (o + 1 >= cap)
            return tl_fail(err, TL_EINVAL, strcmp(rule, "path.invalid") == 0 ? rule : "query.invalid", path,
                           "longer than %zu bytes", cap - 1);
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

int api_query_parse(api_query *q, const char *raw, const char *const *allowed, tl_error *err)
{
    q->n = 0;
    if (raw == NULL)
        return 0;
    const char *p = raw;
    while (*p != '\0') {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        if (plen > 0) {
            if (q->n == API_QUERY_PARAMS_MAX)
                return tl_fail(err, TL_EINVAL, "query.invalid", "", "more than %u query parameters",
                               API_QUERY_PARAMS_MAX);
            const char *eq = memchr(p, '=', plen);
            size_t klen = eq ? (size_t)(eq - p) : plen;
            char key[API_QUERY_KEY_BYTES_MAX + 1];
            int rc = decode(key, sizeof key, p, klen, true, "query.encoding", "", err);
            if (rc != 0)
                return rc;
            if (key[0] == '\0')
                return tl_fail(err, TL_EINVAL, "query.invalid", "", "a query parameter without a name");
            if (allowed != NULL) {
                bool known = false;
                for (const char *const *a = allowed; *a != NULL; a++)
                    known = known || strcmp(*a, key) == 0;
                if (!known)
                    return tl_fail(err, TL_EINVAL, "query.unknown", key, "this route has no parameter '%s'", key);
            }
            for (size_t i = 0; i < q->n; i++)
                if (strcmp(q->p[i].key, key) == 0)
                    return tl_fail(err, TL_EINVAL, "query.duplicate", key, "'%s' is given more than once", key);
            const char *v = eq ? eq + 1 : p + plen;
            size_t vlen = (size_t)(p + plen - v);
            rc = decode(q->p[q->n].value, sizeof q->p[q->n].value, v, vlen, true, "query.encoding", key, err);
            if (rc != 0)
                return rc;
            memcpy(q->p[q->n].key, key, sizeof key);
            q->n++;
        }
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    return 0;
}

const char *api_query_get(const api_query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->p[i].key, key) == 0)
            return q->p[i].value;
    return NULL;
}

int api_query_u64(const api_query *q, const char *key, uint64_t min, uint64_t max, uint64_t *out,
                  bool *present, tl_error *err)
{
    *out = 0;
    if (present)
        *present = false;
    const char *v = api_query_get(q, key);
    if (v == NULL)
        return 0;
    if (v[0] == '\0' || strlen(v) > 20)
        return tl_fail(err, TL_EINVAL, "query.invalid", key, "expected a whole number from %llu to %llu",
                       (unsigned long long)min, (unsigned long long)max);
    uint64_t n = 0;
    for (const char *c = v; *c; c++) {
        if (*c < '0' || *c > '9' || n > (UINT64_MAX - (uint64_t)(*c - '0')) / 10)
            return tl_fail(err, TL_EINVAL, "query.invalid", key, "expected a whole number from %llu to %llu",
                           (unsigned long long)min, (unsigned long long)max);
        n = n * 10 + (uint64_t)(*c - '0');
    }
    if (n < min || n > max)
        return tl_fail(err, TL_EINVAL, "query.invalid", key, "%llu is outside %llu..%llu", (unsigned long long)n,
                       (unsigned long long)min, (unsigned long long)max);
    *out = n;
    if (present)
        *present = true;
    return 0;
}

int api_path_decode(char *out, size_t cap, const char *raw, tl_error *err)
{
    return decode(out, cap, raw, strlen(raw), false, "path.invalid", "path", err);
}

bool tl_api_stream_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TL_STREAM_BYTES_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '/' ||
              c == '-'))
            return false;
    }
    return true;
}
