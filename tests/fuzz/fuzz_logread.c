// SPDX-License-Identifier: MIT
/*
 * fuzz_logread.c: libFuzzer target for the log reader and everything that renders a record.
 *
 * The input is treated as one log line: it goes through logread_parse_line, and when it parses,
 * the record is rendered every way the CLI can (text incident, JSON, Chrome trace events, HTML
 * section) and aggregated (incidents.c), so malformed-but-accepted records are exercised too.
 * The fast scanner is also held to the reference parser: whatever it accepts, jansson accepts
 * with an equal record. Output goes to /dev/null. Built and run by scripts/fuzz.sh.
 */
#include "chrome.h"
#include "html.h"
#include "incidents.h"
#include "logread.h"
#include "pairs.h"
#include "report_json.h"
#include "report_text.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink(void)
{
    static FILE *null;
    if (!null) null = fopen("/dev/null", "w");
    if (!null) abort();
    return null;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct log_record rec, ref;
    char err[256];
    if (logread_parse_line_fast((const char *)data, size, &rec) == 0) {
        if (logread_parse_line_reference((const char *)data, size, &ref, err, sizeof err) != 0 ||
            !log_record_equal(&rec, &ref))
            abort(); /* the scanner accepted what jansson reads differently */
        log_record_free(&ref);
        log_record_free(&rec);
    }
    if (logread_parse_line((const char *)data, size, &rec, err, sizeof err) != 0) {
        /* A rejected line must come with a printable, terminated reason. */
        for (const char *p = err; *p; p++)
            if ((unsigned char)*p < 0x20) abort();
        return 0;
    }
    FILE *out = sink();
    report_print_incident(out, &rec, 1, 1, 1);
    json_t *j = report_record_json(&rec);
    if (!j) abort();
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text) abort(); /* everything a record holds must serialise */
    free(text);
    json_decref(j);

    struct chrome_writer w;
    chrome_begin(&w, out, 0);
    chrome_write_record(&w, &rec);
    chrome_write_record(&w, &rec); /* the second time the tracks are already named */
    if (chrome_end(&w) != 0) abort();

    html_write_incident(out, &rec, 1);

    struct incidents inc;
    incidents_init(&inc);
    incidents_add(&inc, &rec); /* takes ownership */
    incidents_finish(&inc);
    struct pairs pairs;
    pairs_find(&inc, &pairs);
    struct logscan_stats in = {.files = 1};
    report_print_summary(out, &inc, &in, 0);
    html_write_page(out, &inc, &pairs, &in, 0);
    j = report_json(&inc, &pairs, &in);
    if (!j) abort();
    json_decref(j);
    pairs_free(&pairs);
    incidents_free(&inc);
    log_record_free(&rec);
    return 0;
}
