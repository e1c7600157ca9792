// SPDX-License-Identifier: MIT
/* init.c: the shim's start and end (init.h). The options are read here, once,
 * and each module is handed what it needs of them; no other file sees the
 * options struct. The fork handlers live here too, because they call into
 * most modules: the fd table's pool lock is held across fork(), and in the
 * child every module drops what belongs to the parent (the log fd, the rate
 * limiter's and summary's counts, retry's claim on shared connections). */
#include "init.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>

#include "clock.h"
#include "conn_event.h"
#include "inject.h"
#include "options.h"
#include "ratelimit.h"
#include "retry.h"
#include "retry_state.h"
#include "sandbox.h"
#include "sink.h"
#include "summary.h"
#include "watch.h"

static struct options opt;

static const char *env_get(const char *name)
{
    return getenv(name);
}

static void atfork_prepare(void)
{
    conn_table_atfork_prepare();
}

static void atfork_parent(void)
{
    conn_table_atfork_parent();
    retry_after_fork();
}

/* What a fork child drops of its parent's, once it knows its pid. */
static void child_drops_parent(void)
{
    sink_atfork_child();
    ratelimit_atfork_child();
    summary_atfork_child();
    retry_after_fork();
}

static void atfork_child(void)
{
    sandbox_atfork_child(); /* first: the others take the new pid from it */
    conn_table_atfork_child();
    child_drops_parent();
}

/* A child that ran no fork handler (a raw clone without CLONE_VM), found by
 * sandbox_check_fork at its first close, record, summary or log opening,
 * after it learnt its pid: the same, minus the guard that no prepare took. */
static void unseen_fork_child(void)
{
    conn_table_unseen_fork();
    child_drops_parent();
}

void shim_init(void)
{
    if (getauxval(AT_SECURE)) return; /* set-uid/set-gid: stay inert, trust no env */
    clock_init();
    options_load(&opt, env_get, sink_warn);
    if (opt.disabled) return;
    sink_configure(opt.log);
    sink_set_journal_stream(getenv("JOURNAL_STREAM"));
    conn_event_init(opt.record);
    sockets_init();
    retry_init(&opt);
    inject_init(opt.inject);
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    sandbox_on_unseen_fork(unseen_fork_child);
    if (conn_table_init(opt.events) < 0) sink_warn("cannot reserve the fd table; not recording");
    watch_mark_inherited();
}

void shim_fini(void)
{
    sockets_exit_sweep();
}
