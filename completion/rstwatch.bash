# SPDX-License-Identifier: MIT
# bash completion for rstwatch: subcommands, their options, and after
# `rstwatch run ... --` the completion of the command being run. The run
# flags come from `rstwatch run --help`, so they follow the options table.

_rstwatch()
{
    local cur prev words cword
    _init_completion -s || return

    local i cmd="" cmd_at=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        -*) ;;
        *) cmd=${words[i]} cmd_at=$i; break ;;
        esac
    done

    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W 'run report export cat metrics lib capture help --help --version' -- "$cur"))
        return
    fi

    case $cmd in
    run)
        # After "--" or the first non-option word, complete the command itself.
        for ((i = cmd_at + 1; i < cword; i++)); do
            if [[ ${words[i]} == -- ]]; then
                _command_offset $((i + 1))
                return
            fi
        done
        case $prev in
        --log | -l | --config) _filedir; return ;;
        --record) COMPREPLY=($(compgen -W 'resets errors all' -- "$cur")); return ;;
        --retry) COMPREPLY=($(compgen -W 'off connect idempotent' -- "$cur")); return ;;
        --disable) COMPREPLY=($(compgen -W '0 1' -- "$cur")); return ;;
        --*) [[ $prev != *=* && $prev == --[a-z]* ]] && return ;;
        esac
        [[ $cur == *=* ]] && return
        if [[ $cur == -* ]]; then
            local flags
            flags=$("${words[0]}" run --help 2>/dev/null | sed -n 's/^  \(-., \)\{0,1\}\(--[a-z-]*\).*/\2/p')
            COMPREPLY=($(compgen -W "$flags --" -- "$cur"))
            return
        fi
        _command_offset "$cword"
        ;;
    report)
        [[ $prev == --since ]] && return
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '--json --since --help' -- "$cur"))
        else
            _filedir
        fi
        ;;
    export)
        case $prev in
        --format) COMPREPLY=($(compgen -W 'chrome html' -- "$cur")); return ;;
        -o | --output) _filedir; return ;;
        esac
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '--format -o --help' -- "$cur"))
        else
            _filedir
        fi
        ;;
    metrics)
        case $prev in
        -o | --output | --state) _filedir; return ;;
        --max-values) return ;;
        esac
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '-o --output --state --max-values --help' -- "$cur"))
        else
            _filedir
        fi
        ;;
    cat) _filedir ;;
    capture)
        case $prev in
        -i | --interface)
            COMPREPLY=($(compgen -W "any $(ls /sys/class/net 2>/dev/null)" -- "$cur"))
            return
            ;;
        -l | --log | --pcap) _filedir; return ;;
        --rate | --flows | --window) return ;;
        esac
        COMPREPLY=($(compgen -W '-i --interface -l --log --pcap --rate --flows --window --help' -- "$cur"))
        ;;
    esac
} &&
    complete -F _rstwatch rstwatch
