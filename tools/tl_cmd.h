/* The techledger subcommands. Each lives in tools/cmd_<name>.c and is listed in main.c. */
#ifndef TL_CMD_H
#define TL_CMD_H

#include <stdbool.h>

/* Exit codes shared by every subcommand. */
enum {
    TL_EXIT_OK = 0,
    TL_EXIT_FAILURE = 1, /* the operation ran and failed (verification failure, rejected event) */
    TL_EXIT_USAGE = 2,   /* bad command line */
    TL_EXIT_IO = 3       /* cannot read or write files, open the ledger or reach the server */
};

typedef struct tl_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} tl_cmd;

/* True when argv holds -h or --help; prints nothing. */
bool tl_cmd_wants_help(int argc, char **argv);

int tl_cmd_init(int argc, char **argv);
int tl_cmd_keygen(int argc, char **argv);
int tl_cmd_sign(int argc, char **argv);
int tl_cmd_submit(int argc, char **argv);
int tl_cmd_get(int argc, char **argv);
int tl_cmd_serve(int argc, char **argv);
int tl_cmd_checkpoint(int argc, char **argv);
int tl_cmd_vkey(int argc, char **argv);
int tl_cmd_export(int argc, char **argv);
int tl_cmd_verify(int argc, char **argv);
int tl_cmd_schema(int argc, char **argv);
int tl_cmd_demo(int argc, char **argv);
int tl_cmd_report(int argc, char **argv);
int tl_cmd_rebuild(int argc, char **argv);
int tl_cmd_project(int argc, char **argv);
int tl_cmd_bench(int argc, char **argv);

#endif
