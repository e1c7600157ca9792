// SPDX-License-Identifier: MIT
/* packets_join.h: joining `rstwatch capture`'s packet records to the shim's
 * records of the same connection (same host, local and peer address, and a
 * packet no later than shortly after the shim's record), for report and export. */
#ifndef RSTWATCH_PACKETS_JOIN_H
#define RSTWATCH_PACKETS_JOIN_H

#include "logread.h"

#include <stddef.h>
#include <stdint.h>

/* Packet records kept waiting for their shim record; more are incidents of their own at once. */
#define PACKETS_JOIN_MAX 65536

/* Packet records read before the shim record they belong to. */
struct packets_join {
    struct log_record *held;
    size_t n, cap;
    size_t next;     /* packets_join_release's position */
    uint64_t joined; /* packet records merged into a shim record */
};

/* 1 when the packet record pkt is about the connection of the shim record rec. */
int packets_join_match(const struct log_record *pkt, const struct log_record *rec);

/* Merges the packet record's verdict into the shim record: its packet fields, and when the path
 * sent the reset, the cause path_reset with the packet's hint; otherwise the hint gains who sent
 * it. pkt is emptied. Returns 1 when rec's cause code changed. */
int packets_join_merge(struct log_record *rec, struct log_record *pkt);

/* Keeps a packet record for a later shim record (takes its contents). Returns 0, or -1 when the
 * join is full or out of memory (rec untouched). */
int packets_join_hold(struct packets_join *j, struct log_record *rec);

/* A shim record: merges the held packet record of its connection, if any. Returns 1 when rec's
 * cause code changed, else 0. */
int packets_join_annotate(struct packets_join *j, struct log_record *rec);

/* Hands out the held packet records no shim record claimed, one per call (moved into *out);
 * returns 0 when there are no more. */
int packets_join_release(struct packets_join *j, struct log_record *out);

/* Who sent the reset, as a line for a human: "path: a device 1 hop away, the server 2 hops
 * (TTL 64 against 63), IP ID zero"; 0 when the record carries no verdict. */
int packets_join_describe(const struct log_record *rec, char *buf, size_t len);

void packets_join_free(struct packets_join *j);

#endif
