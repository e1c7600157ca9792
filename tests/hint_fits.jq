# SPDX-License-Identifier: MIT
# hint_fits.jq: true when a record's hint agrees with its own fields (the
# numbers it quotes, the role, reset vs EOF, the request number). Used by
# tests/lib.bash assert_hint_fits on every record of the accuracy matrix.
def secs: (. // 0 | floor) as $m | "\($m / 1000 | floor).\(($m / 100 | floor) % 10) s";
def has($s): .cause.hint | contains($s);
.cause.code as $c
| [ ($c != "idle_reuse" or (.role == "client" and .reused and has("sat idle \(.idle_before_ms | secs)"))),
    ($c != "idle_close" or (.idle_ms >= 1000 and has("idle \(.idle_ms | secs) then")
                            and has(if .type == "eof" then "then FIN" else "then RST" end))
                           and (.role == "client" or (.type == "reset" and .bytes_out > 0 and has("from the client")))),
    ($c != "response_timeout" or (.role == "client" and .idle_ms >= 1000
                            and has("no response \(.idle_ms | secs) after the request")
                            and has(if .type == "eof" then "then EOF" else "then a reset" end))),
    ($c != "client_abort" or .role == "server"),
    (($c != "refused" and $c != "connect_timeout") or (.bytes_out == 0 and .exchanges == 0)),
    ($c != "reset_mid_stream" or .bytes_in > 0),
    ($c != "unread_data_close" or .bytes_out > 0),
    ((has("(EOF)") | not) or .type == "eof"),
    ((has("peer reset") | not) or .type == "reset"),
    ((has("TLS handshake") | not) or .exchanges == 0),
    ((.cause.hint | test("^(FIN|reset) [0-9.]+ s after the last bytes") | not)
        or has(" \(.idle_ms | secs) after the last bytes")),
    ((.cause.hint | [match("request ([0-9]+) on a reused").captures[0].string | tonumber] | first) as $n
        | $n == null or ($n == .exchanges and .reused)),
    ((.cause.hint | [match("[(]([0-9]+) retransmissions").captures[0].string | tonumber] | first) as $n
        | $n == null or $n == .tcp.total_retrans),
    # an idle time quoted as the gap before the request is the record's idle_before_ms
    ((.cause.hint | [match("after (only )?([0-9]+[.][0-9] s) idle").captures[1].string] | first) as $s
        | $s == null or $s == (.idle_before_ms | secs)),
    # "we had seen EOF" needs an EOF the program read: a read that returned 0
    (((has("seen EOF") or has("saw EOF")) | not)
        or any(.events[]?; (.op | test("^(recv|read)")) and .ret == 0)
        or (.events_dropped > 0 and .calls_in > 0)),
    # "no response byte" is denied by bytes received and not read
    (((has("no response byte") or has("before any response byte")) | not)
        or ((.tcp.unread // 0) == 0)),
    ($c != "early_close" or (.role == "client" and .exchanges >= 1 and (.reused or has("before the request was sent")))),
    ($c != "request_timeout" or (.role == "client" and has("stopped waiting")
                            and ((.op | test("^(send|write)"))
                                 # an EOF: the peer's FIN was in before the request's last byte left
                                 or (.type == "eof" and .tcp.state == "CLOSE_WAIT" and (.tcp.unread // 0) == 0
                                     and has("closed before its last byte left"))))),
    # a reset quoted as "within a few round trips" of the request: the record's own numbers, never on loopback
    ((has("within a few round trips") | not)
        or (.role == "client" and .type == "reset" and (.peer | startswith("127.") | not)
            and ((.cause.hint | [match("lowest ([0-9]+) us[)]").captures[0].string | tonumber] | first) == .tcp.min_rtt_us)
            and ((.cause.hint | [match("came ([0-9]+) us after").captures[0].string | tonumber] | first) as $us
                 | ($us - .idle_ms * 1000 | fabs) <= 1.5))),
    ((.cause.hint | [match("([0-9]+) bytes the peer sent were never read").captures[0].string | tonumber] | first) as $n
        | $n == null or $n == .tcp.unread),
    ($c != "path_reset" or (.role == "client" and .type == "reset"
        and ((.cause.hint | [match("round-trip time [(]([0-9]+) us[)]").captures[0].string | tonumber] | first) == .tcp.min_rtt_us)
        and ((.cause.hint | [match("came ([0-9]+) us after").captures[0].string | tonumber] | first) as $us
             | ($us - .idle_ms * 1000 | fabs) <= 1.5)
        and (.peer | startswith("127.") | not))),
    ($c != "path_state_lost" or (.role == "client" and .reused and .idle_before_ms >= 2000)),
    ($c != "local_timeout" or (.role == "client" and .type == "close"
        and ((.cause.hint | [match("([0-9]+) segments unacknowledged").captures[0].string | tonumber] | first) == .tcp.unacked))),
    ($c != "fd_limit" or (.role == "server" and .op == "accept" and (.errno == "EMFILE" or .errno == "ENFILE")
                           and has(.errno)))
  ] | all
