/* cat.c: `rstwatch cat [FILE...]`: the records of rstwatch logs, validated by
 * the same reader as report/export and pretty-printed by jansson (two-space
 * indent, the shim's field order kept), one JSON object after another. Bad
 * lines are reported as "rstwatch: FILE:LINE: reason" and skipped. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli.h"
#include "logread.h"

/* Pretty-prints the good lines of fp; returns the number of bad lines. */
static long cat_stream(FILE *fp, const char *name)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0, bad = 0;
    while ((n = getline(&line, &cap, fp)) > 0) {
        lineno++;
        if (line[n - 1] == '\n') line[--n] = 0;
        if (n == 0) continue;
        struct log_record rec;
        char err[200];
        json_error_t je;
        json_t *root = NULL;
        if (logread_parse_line(line, (size_t)n, &rec, err, sizeof err) < 0 ||
            !(root = json_loadb(line, (size_t)n, 0, &je))) {
            if (root == NULL && err[0] == 0) snprintf(err, sizeof err, "%s", je.text);
            fprintf(stderr, "rstwatch: %s:%ld: %s\n", name, lineno, err);
            bad++;
            continue;
        }
        log_record_free(&rec);
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
        fputc('\n', stdout);
        json_decref(root);
    }
    free(line);
    return bad;
}

int cmd_cat(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        puts("usage: rstwatch cat [FILE...]   (default: standard input)");
        return 0;
    }
    long bad = 0;
    int unreadable = 0;
    if (argc < 2) bad += cat_stream(stdin, "-");
    for (int i = 1; i < argc; i++) {
        FILE *fp = strcmp(argv[i], "-") ? fopen(argv[i], "re") : stdin;
        if (!fp) {
            fprintf(stderr, "rstwatch: %s: %s\n", argv[i], strerror(errno));
            unreadable = 1;
            continue;
        }
        bad += cat_stream(fp, argv[i]);
        if (fp != stdin) fclose(fp);
    }
    return unreadable ? 2 : bad ? 1 : 0;
}
