// SPDX-License-Identifier: MIT
/* capture_flows.c: the table of recent flows `rstwatch capture` keeps its
 * baselines in (see capture.h). Its size is fixed when it is made: a hash of
 * flow ids chained through the entries, and a list of the entries from the
 * most to the least recently used; a new flow in a full table takes the least
 * recently used entry. Memory never grows with the traffic, so a SYN flood
 * costs baselines, not the host's memory. */
#include "capture.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct cap_flows {
    struct cap_flow *e;
    size_t cap, used;
    int32_t *buckets;
    size_t nbuckets;    /* a power of two */
    int32_t head, tail; /* most and least recently used */
    uint64_t evicted;
};

struct cap_flows *cap_flows_new(size_t capacity)
{
    if (capacity < 16) capacity = 16;
    struct cap_flows *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cap = capacity;
    t->nbuckets = 1;
    while (t->nbuckets < capacity * 2)
        t->nbuckets <<= 1;
    t->e = calloc(capacity, sizeof *t->e);
    t->buckets = malloc(t->nbuckets * sizeof *t->buckets);
    if (!t->e || !t->buckets) {
        cap_flows_free(t);
        return NULL;
    }
    for (size_t i = 0; i < t->nbuckets; i++)
        t->buckets[i] = -1;
    t->head = t->tail = -1;
    return t;
}

void cap_flows_free(struct cap_flows *t)
{
    if (!t) return;
    free(t->e);
    free(t->buckets);
    free(t);
}

void cap_flow_id_of(const struct cap_pkt *p, struct cap_flow_id *id)
{
    memset(id, 0, sizeof *id);
    size_t n = p->family == AF_INET6 ? 16 : 4;
    id->family = p->family;
    if (p->dir == CAP_OUT) {
        memcpy(id->laddr, p->src, n), memcpy(id->raddr, p->dst, n);
        id->lport = p->sport, id->rport = p->dport;
    } else {
        memcpy(id->laddr, p->dst, n), memcpy(id->raddr, p->src, n);
        id->lport = p->dport, id->rport = p->sport;
    }
}

static uint64_t id_hash(const struct cap_flow_id *id)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)id->family;
    const uint8_t *parts[2] = {id->laddr, id->raddr};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 16; i++)
            h = (h ^ parts[k][i]) * 0x100000001b3ull;
    h ^= ((uint64_t)id->lport << 16) | id->rport;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 31);
}

static int id_equal(const struct cap_flow_id *a, const struct cap_flow_id *b)
{
    return a->family == b->family && a->lport == b->lport && a->rport == b->rport &&
           !memcmp(a->laddr, b->laddr, 16) && !memcmp(a->raddr, b->raddr, 16);
}

static void lru_unlink(struct cap_flows *t, int32_t i)
{
    struct cap_flow *f = &t->e[i];
    if (f->lru_prev >= 0)
        t->e[f->lru_prev].lru_next = f->lru_next;
    else
        t->head = f->lru_next;
    if (f->lru_next >= 0)
        t->e[f->lru_next].lru_prev = f->lru_prev;
    else
        t->tail = f->lru_prev;
}

static void lru_push_front(struct cap_flows *t, int32_t i)
{
    struct cap_flow *f = &t->e[i];
    f->lru_prev = -1;
    f->lru_next = t->head;
    if (t->head >= 0) t->e[t->head].lru_prev = i;
    t->head = i;
    if (t->tail < 0) t->tail = i;
}

static void bucket_remove(struct cap_flows *t, int32_t i)
{
    int32_t *link = &t->buckets[id_hash(&t->e[i].id) & (t->nbuckets - 1)];
    while (*link >= 0 && *link != i)
        link = &t->e[*link].hash_next;
    if (*link == i) *link = t->e[i].hash_next;
}

/* The index of the flow with this id in bucket b, or -1. */
static int32_t find_in(const struct cap_flows *t, const struct cap_flow_id *id, size_t b)
{
    int32_t i = t->buckets[b];
    while (i >= 0 && !id_equal(&t->e[i].id, id))
        i = t->e[i].hash_next;
    return i;
}

struct cap_flow *cap_flows_find(const struct cap_flows *t, const struct cap_flow_id *id)
{
    int32_t i = find_in(t, id, id_hash(id) & (t->nbuckets - 1));
    return i >= 0 ? &t->e[i] : NULL;
}

struct cap_flow *cap_flows_get(struct cap_flows *t, const struct cap_pkt *p)
{
    struct cap_flow_id id;
    cap_flow_id_of(p, &id);
    size_t b = id_hash(&id) & (t->nbuckets - 1);
    int32_t i = find_in(t, &id, b);
    if (i >= 0) {
        if (t->head != i) lru_unlink(t, i), lru_push_front(t, i);
        return &t->e[i];
    }
    if (t->used < t->cap) {
        i = (int32_t)t->used++;
    } else {
        i = t->tail;
        lru_unlink(t, i);
        bucket_remove(t, i);
        t->evicted++;
    }
    struct cap_flow *f = &t->e[i];
    memset(f, 0, sizeof *f);
    f->id = id;
    f->peer_ip_id = -1;
    f->rtt_us = -1;
    f->iface = p->iface;
    f->loopback = p->loopback;
    f->hash_next = t->buckets[b];
    t->buckets[b] = i;
    lru_push_front(t, i);
    return f;
}

uint64_t cap_flows_evicted(const struct cap_flows *t)
{
    return t->evicted;
}

size_t cap_flows_count(const struct cap_flows *t)
{
    return t->used;
}

void cap_flows_each(struct cap_flows *t, void (*fn)(struct cap_flow *f, void *ctx), void *ctx)
{
    for (size_t i = 0; i < t->used; i++)
        fn(&t->e[i], ctx);
}
