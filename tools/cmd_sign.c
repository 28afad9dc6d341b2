/* techledger sign --key FILE [IN.json] [-o OUT]: JSON event in, signed envelope out. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tl_cmd.h"
#include "tl_crypto.h"
#include "tl_json_event.h"

static const char sign_help[] =
    "usage: techledger sign --key FILE [EVENT.json ...] [-o OUT]\n\n"
    "Reads JSON events (from the files named, or one per line from standard input) and writes\n"
    "signed MessagePack envelopes (FORMAT.md section 4), signed with the secret key in FILE.\n"
    "With several events the output is one batch (an array of envelopes) that\n"
    "`techledger submit` and POST /v1/events accept as a whole.\n\n"
    "An event: {\"type\": ..., \"stream\": ..., \"data\": {...}, \"id\"?: ..., \"time\"?: ms, \"expect\"?: n}\n"
    "A missing id is random, a missing time is now. Keys in data (admin, key, keys) are\n"
    "64 hex digits. Amounts are integer fen. See docs/events.md for every event type.\n\n"
    "  -o, --out FILE   write to FILE instead of standard output\n";

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int sign_one(tl_buf *out, json_t *ev, const tl_keypair *kp, const char *where)
{
    tl_error err;
    tl_error_clear(&err);
    if (tl_json_envelope(out, ev, kp, now_ms(), &err) != 0) {
        char msg[512];
        fprintf(stderr, "techledger sign: %s: %s\n", where, tl_error_format(&err, msg, sizeof msg));
        return -1;
    }
    return 0;
}

int tl_cmd_sign(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(sign_help, stdout);
        return TL_EXIT_OK;
    }
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'}, {"out", required_argument, NULL, 'o'}, {0, 0, 0, 0}};
    const char *key_path = NULL, *out_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:o:", opts, NULL)) != -1) {
        if (c == 'k')
            key_path = optarg;
        else if (c == 'o')
            out_path = optarg;
        else {
            fputs(sign_help, stderr);
            return TL_EXIT_USAGE;
        }
    }
    if (key_path == NULL) {
        fputs(sign_help, stderr);
        return TL_EXIT_USAGE;
    }
    tl_error err;
    char msg[512];
    tl_keypair kp;
    if (tl_secret_key_read(key_path, &kp, &err) != 0) {
        fprintf(stderr, "techledger sign: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    /* Envelopes are collected first so that the batch header can announce their count. */
    tl_buf *envs = NULL;
    size_t n = 0, cap = 0;
    int status = TL_EXIT_OK;
    char *line = NULL;
    size_t line_cap = 0;
    size_t inputs = optind < argc ? (size_t)(argc - optind) : SIZE_MAX;
    for (size_t i = 0; status == TL_EXIT_OK; i++) {
        json_t *ev = NULL;
        json_error_t jerr;
        char where[256];
        if (inputs != SIZE_MAX) {
            if (i >= inputs)
                break;
            ev = json_load_file(argv[optind + (int)i], 0, &jerr);
            snprintf(where, sizeof where, "%s", argv[optind + (int)i]);
        } else {
            ssize_t got = getline(&line, &line_cap, stdin);
            if (got < 0)
                break;
            if (strspn(line, " \t\r\n") == (size_t)got)
                continue;
            ev = json_loads(line, 0, &jerr);
            snprintf(where, sizeof where, "stdin line %zu", i + 1);
        }
        if (ev == NULL) {
            fprintf(stderr, "techledger sign: %s: invalid JSON at line %d: %s\n", where, jerr.line, jerr.text);
            status = TL_EXIT_FAILURE;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            tl_buf *ne = realloc(envs, cap * sizeof *ne);
            if (ne == NULL) {
                json_decref(ev);
                status = TL_EXIT_IO;
                break;
            }
            envs = ne;
        }
        tl_buf_init(&envs[n]);
        if (sign_one(&envs[n], ev, &kp, where) != 0)
            status = TL_EXIT_FAILURE;
        n++;
        json_decref(ev);
    }
    free(line);
    tl_keypair_wipe(&kp);
    if (status == TL_EXIT_OK && n == 0) {
        fprintf(stderr, "techledger sign: no events given\n");
        status = TL_EXIT_USAGE;
    }
    if (status == TL_EXIT_OK) {
        FILE *out = out_path ? fopen(out_path, "wb") : stdout;
        if (out == NULL) {
            fprintf(stderr, "techledger sign: cannot write %s\n", out_path);
            status = TL_EXIT_IO;
        } else {
            if (n > 1) {
                tl_buf hdr;
                tl_buf_init(&hdr);
                tl_mp_writer w;
                tl_mp_writer_init(&w, &hdr);
                tl_mp_array(&w, (uint32_t)n);
                fwrite(hdr.data, 1, hdr.len, out);
                tl_buf_free(&hdr);
            }
            for (size_t i = 0; i < n; i++)
                fwrite(envs[i].data, 1, envs[i].len, out);
            if (fflush(out) != 0 || (out_path && fclose(out) != 0)) {
                fprintf(stderr, "techledger sign: write failed\n");
                status = TL_EXIT_IO;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        tl_buf_free(&envs[i]);
    free(envs);
    return status;
}
