// SPDX-License-Identifier: MIT
/* ring.c: event names for the timeline (see ring.h). */
#include "ring.h"

const char *ring_op_name(unsigned op)
{
    static const char *const names[OP_COUNT] = {
        [OP_NONE] = "none",           [OP_CONNECT] = "connect",
        [OP_ACCEPT] = "accept",       [OP_SEND] = "send",
        [OP_SENDTO] = "sendto",       [OP_SENDMSG] = "sendmsg",
        [OP_SENDMMSG] = "sendmmsg",   [OP_WRITE] = "write",
        [OP_WRITEV] = "writev",       [OP_SENDFILE] = "sendfile",
        [OP_SPLICE] = "splice",       [OP_RECV] = "recv",
        [OP_RECVFROM] = "recvfrom",   [OP_RECVMSG] = "recvmsg",
        [OP_RECVMMSG] = "recvmmsg",   [OP_READ] = "read",
        [OP_READV] = "readv",         [OP_SHUTDOWN] = "shutdown",
        [OP_CLOSE] = "close",         [OP_SOCKOPT_ERROR] = "sockopt_error",
        [OP_CONNECTED] = "connected", [OP_RETRY] = "retry",
        [OP_REPLAY] = "replay",       [OP_INJECT] = "inject",
        [OP_POLL] = "poll",
    };
    return op < OP_COUNT && names[op] ? names[op] : "unknown";
}
