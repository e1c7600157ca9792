// SPDX-License-Identifier: MIT
/* report_json.h: `rstwatch report --json`: the aggregation and the records as JSON. */
#ifndef RSTWATCH_REPORT_JSON_H
#define RSTWATCH_REPORT_JSON_H

#include "incidents.h"
#include "logscan.h"
#include "pairs.h"

#include <jansson.h>

/* The record as a new JSON object with every schema field it holds (absent ones omitted);
 * NULL when out of memory. */
json_t *report_record_json(const struct log_record *rec);

/* The whole aggregation (summary, groups, tallies, kept incidents, joined connections) as a
 * new JSON object; NULL when out of memory. */
json_t *report_json(const struct incidents *inc, const struct pairs *pairs,
                    const struct logscan_stats *in);

#endif
