# SPDX-License-Identifier: MIT
# hint_fits.jq: true when a record's hint agrees with its own fields (the
# numbers it quotes, the role, reset vs EOF, the request number). Used by
# tests/lib.bash assert_hint_fits on every record of the accuracy matrix.
def secs: (. // 0 | floor) as $m | "\($m / 1000 | floor).\(($m / 100 | floor) % 10) s";
def has($s): .cause.hint | contains($s);
.cause.code as $c
| [ ($c != "idle_reuse" or (.role == "client" and .reused and has("sat idle \(.idle_before_ms | secs)"))),
    ($c != "idle_close" or (.role == "client" and .idle_ms >= 1000 and has("idle \(.idle_ms | secs) then")
                            and has(if .type == "eof" then "then FIN" else "then RST" end))),
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
        | $n == null or $n == .tcp.total_retrans)
  ] | all
