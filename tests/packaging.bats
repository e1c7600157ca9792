#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# sanitize: skip (builds and installs the Debian package; no shim code runs differently)
# rstwatch as a packager and a user of the package meet it: `make deb`,
# lintian, hardening-check, `dpkg -i`, a curl reset recorded by the installed
# copy, `man rstwatch`, bash completion, `dpkg -r` leaving nothing behind;
# `make install`/`make uninstall` with DESTDIR; a packager's CFLAGS on the
# command line; --help, man page and docs/usage.md listing the same options; the
# SPDX line in every source file.
#
# The package tests need root (dpkg -i); they skip without it. They leave an
# rstwatch package that was installed before the test alone (skip) rather
# than replace and remove it.

load lib

setup_file() {
    export DEB_OK=0
    [ "$(id -u)" = 0 ] || return 0
    # The package is built without sanitizers: test it once, in the plain run.
    [ -z "${SAN_RUNTIME:-}" ] || return 0
    cd "$RSTWATCH_ROOT"
    if make --no-print-directory deb >"$BATS_FILE_TMPDIR/deb.log" 2>&1; then
        DEB_OK=1
    fi
}

setup() { rstwatch_setup; }

teardown() {
    if [ "${INSTALLED_BY_TEST:-0}" = 1 ]; then dpkg_waiting -r rstwatch >/dev/null 2>&1 || true; fi
    rstwatch_teardown
}

# dpkg_waiting ARGS...: dpkg, retried for up to 2 minutes while another
# process (an apt-get elsewhere on the machine) holds the dpkg lock.
dpkg_waiting() {
    local i out
    for ((i = 0; i < 60; i++)); do
        out="$(dpkg "$@" 2>&1)" && { printf '%s\n' "$out"; return 0; }
        [[ "$out" == *"lock"* ]] || { printf '%s\n' "$out"; return 1; }
        sleep 2
    done
    printf '%s\n' "$out"
    return 1
}

need_deb() {
    [ "$(id -u)" = 0 ] || skip "needs root (dpkg -i, dpkg -r)"
    [ -z "${SAN_RUNTIME:-}" ] || skip "the package is tested in the run without sanitizers"
    if [ "$DEB_OK" != 1 ]; then
        echo "make deb failed:" >&2
        tail -40 "$BATS_FILE_TMPDIR/deb.log" >&2
        return 1
    fi
    VERSION="$(sed -n 's/^VERSION *:= *//p' "$RSTWATCH_ROOT/Makefile")"
    ARCH="$(dpkg-architecture -qDEB_HOST_ARCH)"
    MULTIARCH="$(dpkg-architecture -qDEB_HOST_MULTIARCH)"
    DEB="$RSTWATCH_ROOT/rstwatch_${VERSION}_${ARCH}.deb"
    [ -f "$DEB" ] || { echo "make deb did not leave $DEB" >&2; return 1; }
}

@test "make deb gives rstwatch_<version>_<arch>.deb: the command, the library under /usr/lib/<multiarch>/rstwatch, man pages, completion" {
    need_deb
    dpkg-deb -c "$DEB" | awk '{print $NF}' | sed 's|^\./|/|' >"$T/contents"
    local f
    for f in /usr/bin/rstwatch "/usr/lib/$MULTIARCH/rstwatch/librstwatch.so" \
        /usr/share/man/man1/rstwatch.1.gz /usr/share/man/man7/rstwatch.7.gz \
        /usr/share/bash-completion/completions/rstwatch /usr/share/doc/rstwatch/copyright; do
        grep -qxF "$f" "$T/contents" || { echo "$f missing from the package:" >&2; cat "$T/contents" >&2; false; }
    done
    assert_equal "$VERSION" "$(dpkg-deb -f "$DEB" Version)" "package version = Makefile VERSION"
    # The build left nothing in the working tree that git would show.
    if git -C "$RSTWATCH_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
        local dirt
        dirt="$(git -C "$RSTWATCH_ROOT" status --porcelain --untracked-files=all -- debian "rstwatch_*")"
        assert_equal "" "$dirt" "build files git would show"
    fi
}

@test "lintian reports no error and no warning" {
    need_deb
    command -v lintian >/dev/null || { echo "lintian missing (scripts/install-deps.sh)" >&2; false; }
    local changes="$RSTWATCH_ROOT/build/deb/rstwatch_${VERSION}_${ARCH}.changes"
    lintian --pedantic -I "$changes" >"$T/lintian" 2>&1 || true
    sed 's/^/# lintian: /' "$T/lintian" >&3 2>/dev/null || true
    ! grep -E '^[EW]: ' "$T/lintian" || { cat "$T/lintian" >&2; false; }
}

@test "hardening-check passes on both binaries of the package (PIE, stack protector, fortify, relro, bindnow)" {
    need_deb
    command -v hardening-check >/dev/null || { echo "hardening-check missing (devscripts)" >&2; false; }
    dpkg-deb -x "$DEB" "$T/x"
    # --nocfprotection: Debian 12's own start files carry no IBT/SHSTK
    # property, so no program linked on it can pass that check.
    run hardening-check --nocfprotection "$T/x/usr/bin/rstwatch" "$T/x/usr/lib/$MULTIARCH/rstwatch/librstwatch.so"
    echo "$output" >&2
    assert_equal 0 "$status" "hardening-check status"
    [[ "$output" == *"Fortify Source functions: yes"* ]]
}

@test "dpkg -i: the installed rstwatch records a curl reset with the installed library; man and completion work; dpkg -r leaves nothing" {
    need_deb
    if dpkg-query -W -f='${db:Status-Status}' rstwatch 2>/dev/null | grep -qx installed; then
        skip "an rstwatch package is already installed on this machine; not replacing it"
    fi
    need_preloadable curl
    dpkg_waiting -i "$DEB" >"$T/dpkg-i" 2>&1 || { cat "$T/dpkg-i" >&2; false; }
    INSTALLED_BY_TEST=1
    dpkg -L rstwatch >"$T/files"

    # The installed command finds the installed library (RSTWATCH_LIB unset).
    run env -u RSTWATCH_LIB /usr/bin/rstwatch lib
    assert_equal "/usr/lib/$MULTIARCH/rstwatch/librstwatch.so" "$output" "rstwatch lib"

    # The demo, against the installed copy.
    RSTWATCH_BIN=/usr/bin/rstwatch BUILD="$BUILD" run "$RSTWATCH_ROOT/scripts/demo.sh"
    [[ "$output" == *"rstwatch: 1 record written to"* ]] || { echo "$output" >&2; false; }
    [[ "$output" == *reset_before_response* ]] || { echo "$output" >&2; false; }

    # A reset recorded by /usr/bin/rstwatch run, in this test's log directory.
    start_server rst-after-request
    _capture "" /usr/bin/rstwatch run --log "$LOG_DIR/%p.jsonl" -- curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 56 "$status" "curl's exit status"
    assert_record_count 1
    assert_jq '.errno == "ECONNRESET" and .prog == "curl"'

    # The metrics timer and its service are installed, disabled and not started.
    grep -qx /lib/systemd/system/rstwatch-metrics.timer "$T/files"
    grep -qx /lib/systemd/system/rstwatch-metrics.service "$T/files"
    [ ! -e /etc/systemd/system/timers.target.wants/rstwatch-metrics.timer ]
    grep -qx /usr/share/doc/rstwatch/examples/rstwatch.rules.yml "$T/files"

    # man finds both pages; bash completion knows the subcommands.
    [ "$(man -w rstwatch)" = /usr/share/man/man1/rstwatch.1.gz ]
    [ "$(man -w 7 rstwatch)" = /usr/share/man/man7/rstwatch.7.gz ]
    MANWIDTH=80 man rstwatch 2>/dev/null | grep -q 'RSTWATCH_LOG'
    run bash -c 'source /usr/share/bash-completion/bash_completion
        COMP_WORDS=(rstwatch r); COMP_CWORD=1; COMP_LINE="rstwatch r"; COMP_POINT=${#COMP_LINE}
        _completion_loader rstwatch; $(complete -p rstwatch | sed "s/.*-F \([^ ]*\) .*/\1/") rstwatch r rstwatch
        printf "%s\n" "${COMPREPLY[@]}"'
    assert_equal "run
report" "$output" "completions of 'rstwatch r'"

    dpkg_waiting -r rstwatch >"$T/dpkg-r" 2>&1 || { cat "$T/dpkg-r" >&2; false; }
    INSTALLED_BY_TEST=0
    local f left=""
    while IFS= read -r f; do
        [ -e "$f" ] || continue
        # Shared directories (/usr, /usr/share/man/man1 ...) stay; ours must go.
        if [ -d "$f" ] && [[ "$f" != */rstwatch ]]; then continue; fi
        left+="$f"$'\n'
    done <"$T/files"
    assert_equal "" "$left" "left behind by dpkg -r"
    run dpkg-query -W -f='${db:Status-Status}' rstwatch
    [ "$output" != installed ]
}

@test "make install and make uninstall with DESTDIR, PREFIX and LIBDIR" {
    cd "$RSTWATCH_ROOT"
    local dest="$T/root"
    make --no-print-directory BUILD="$BUILD" DESTDIR="$dest" PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu \
        install >"$T/install.log" 2>&1 || { cat "$T/install.log" >&2; false; }
    (cd "$dest" && find . -type f | sort) >"$T/installed"
    assert_equal "./usr/bin/rstwatch
./usr/lib/x86_64-linux-gnu/rstwatch/librstwatch.so
./usr/share/bash-completion/completions/rstwatch
./usr/share/man/man1/rstwatch.1
./usr/share/man/man7/rstwatch.7" "$(<"$T/installed")" "installed files"
    make --no-print-directory BUILD="$BUILD" DESTDIR="$dest" PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu \
        uninstall >"$T/uninstall.log" 2>&1 || { cat "$T/uninstall.log" >&2; false; }
    assert_equal "" "$(cd "$dest" && find . -type f)" "files left by make uninstall"
    [ ! -e "$dest/usr/lib/x86_64-linux-gnu/rstwatch" ]
}

@test "a packager's CFLAGS, CPPFLAGS and LDFLAGS on the command line add to the build's own flags" {
    command -v dpkg-buildflags >/dev/null || { echo "dpkg-buildflags missing (dpkg-dev)" >&2; false; }
    [ -z "${SAN_RUNTIME:-}" ] || skip "built once, in the run without sanitizers"
    cd "$RSTWATCH_ROOT"
    local b="$T/b"
    # The shim needs -std=c11 -D_GNU_SOURCE; a command-line CFLAGS must not drop them.
    DEB_BUILD_MAINT_OPTIONS=hardening=+all make --no-print-directory BUILD="$b" \
        CFLAGS="$(dpkg-buildflags --get CFLAGS)" CPPFLAGS="$(dpkg-buildflags --get CPPFLAGS)" \
        LDFLAGS="$(dpkg-buildflags --get LDFLAGS)" "$b/librstwatch.so" >"$T/build.log" 2>&1 ||
        { tail -30 "$T/build.log" >&2; false; }
    command -v hardening-check >/dev/null || skip "hardening-check missing"
    run hardening-check --nocfprotection "$b/librstwatch.so"
    echo "$output" >&2
    assert_equal 0 "$status"
}

@test "both man pages render with no warning" {
    cd "$RSTWATCH_ROOT"
    make --no-print-directory BUILD="$BUILD" man >"$T/man.log" 2>&1 || { cat "$T/man.log" >&2; false; }
    local page warnings
    for page in "$BUILD_DIR/man/rstwatch.1" "$BUILD_DIR/man/rstwatch.7"; do
        warnings="$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)"
        assert_equal "" "$warnings" "warnings rendering $page"
        [ "$(MANWIDTH=80 man -l "$page" 2>/dev/null | grep -c .)" -gt 40 ]
    done
}

# The RSTWATCH_* names and run flags in a text, one per line, sorted.
vars_in() { grep -oE 'RSTWATCH_[A-Z_]+[A-Z]' | sort -u; }
flags_in() { grep -oE -- '--[a-z][a-z-]*[a-z]' | sort -u; }

@test "--help, the man page and docs/usage.md list the same options and environment variables" {
    cd "$RSTWATCH_ROOT"
    make --no-print-directory BUILD="$BUILD" man >/dev/null 2>&1
    "$RSTWATCH" --help >"$T/help"
    MANWIDTH=200 man -l "$BUILD_DIR/man/rstwatch.1" 2>/dev/null | col -b >"$T/man"
    # docs/usage.md: the commands, their options and the environment table.
    cp docs/usage.md "$T/usage"
    # The options table is the truth: every variable appears everywhere.
    local truth
    truth="$(sed -n 's/^    {"\(RSTWATCH_[A-Z_]*\)".*/\1/p' shim/options.c | sort -u)"
    [ -n "$truth" ]
    assert_equal "$(printf '%s\nRSTWATCH_LIB\n' "$truth" | sort -u)" "$(vars_in <"$T/help")" "--help variables"
    assert_equal "$(vars_in <"$T/help")" "$(vars_in <"$T/man")" "man page variables vs --help"
    assert_equal "$(vars_in <"$T/help")" "$(vars_in <"$T/usage")" "docs/usage.md variables vs --help"
    # run's flags: those --help prints under "run options" ...
    sed -n '/^run options/,/^$/p' "$T/help" | flags_in >"$T/help-flags"
    sed -n '/^RUN OPTIONS/,/^ENVIRONMENT/p' "$T/man" | flags_in >"$T/man-flags"
    sed -n '/^`rstwatch run` prepends/,/^```/p' "$T/usage" | flags_in >"$T/usage-flags"
    assert_equal "$(<"$T/help-flags")" "$(<"$T/man-flags")" "man page run flags vs --help"
    assert_equal "$(<"$T/help-flags")" "$(<"$T/usage-flags")" "docs/usage.md run flags vs --help"
    # ... and the defaults agree between --help and docs/usage.md's table.
    local var def doc_def
    for var in $truth; do
        def="$(grep -A1 "^  $var " "$T/help" | sed -n 's/.*; default: //p')"
        doc_def="$(grep "^| \`$var\` |" docs/usage.md | awk -F'|' '{print $(NF-1)}' | tr -d ' `')"
        assert_equal "$def" "$doc_def" "docs/usage.md default of $var"
    done
}

@test "the shim's modules depend downwards only: no cycle among the objects' symbol imports or the #include lines" {
    cd "$RSTWATCH_ROOT"
    run python3 scripts/depgraph.py --build "$BUILD" --print
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    # the graph is the real one: the logic layer uses conn_event, which imports the record writer
    [[ "$output" == *$'\nio '*"conn_event"* ]] || { echo "$output" >&2; false; }
    [[ "$output" =~ conn_event\ +-\>[^$'\n']*record ]] || { echo "$output" >&2; false; }
    # and the check can fail: a module that includes a header which includes it back is a cycle
    mkdir -p "$T/tree/shim" "$T/tree/scripts" "$T/tree/build/shim"
    cp scripts/depgraph.py "$T/tree/scripts/"
    printf '#include "b.h"\n' >"$T/tree/shim/a.h"
    printf '#include "a.h"\n' >"$T/tree/shim/b.h"
    cp "$BUILD/shim/guard.o" "$T/tree/build/shim/" && : >"$T/tree/shim/guard.c"
    run python3 "$T/tree/scripts/depgraph.py" --build "$T/tree/build"
    [ "$status" -eq 1 ] && [[ "$output" == *"cycle in the includes graph: a <-> b"* ]] ||
        { echo "$output" >&2; false; }
}

@test "docs/layout.md names every file of the tree" {
    command -v git >/dev/null && git -C "$RSTWATCH_ROOT" rev-parse --git-dir >/dev/null 2>&1 ||
        skip "not a git checkout"
    cd "$RSTWATCH_ROOT"
    # "report.c/.h" names report.c and report.h.
    sed -E 's/([A-Za-z0-9_]+)\.c\/\.h/\1.c \1.h/g' docs/layout.md >"$T/layout"
    local f missing=""
    while IFS= read -r f; do
        grep -qF -- "$(basename "$f")" "$T/layout" || missing+="$f"$'\n'
    done < <(git ls-files | grep -vE '^tests/(fixtures|fuzz/corpus_[a-z]+)/')
    assert_equal "" "$missing" "files docs/layout.md does not name"
}

@test "install-deps.sh reads Build-Depends, installs packages only, and is a no-op when all are present" {
    cd "$RSTWATCH_ROOT"
    # Never a service command: the tests run private instances.
    ! grep -nE '\b(systemctl|service|invoke-rc\.d|update-rc\.d)\b' scripts/install-deps.sh
    # The build dependencies it checks are exactly debian/control's Build-Depends.
    local from_script
    from_script="$(bash -c 'source <(sed -n "/^build_deps()/,/^}/p" scripts/install-deps.sh); build_deps' | sort)"
    local want
    for want in debhelper libjansson-dev scdoc; do
        grep -qx "$want" <<<"$from_script" || { echo "build_deps() lacks $want: $from_script" >&2; false; }
    done
    ! grep -E '[][()<>|, ]|debhelper-compat' <<<"$from_script" ||
        { echo "build_deps() left qualifiers in: $from_script" >&2; false; }
    assert_equal "$(grep -c , < <(sed -n '/^Build-Depends:/,/^[^ ]/p' debian/control | sed '$d'))" \
        "$(grep -c . <<<"$from_script")" "one package per Build-Depends entry"
    # With everything present it runs no apt-get at all (and says nothing).
    PATH="$T/fakebin:$PATH"
    mkdir -p "$T/fakebin"
    printf '#!/bin/sh\necho "apt-get $*" >>"%s/apt.log"\nexit 1\n' "$T" >"$T/fakebin/apt-get"
    chmod +x "$T/fakebin/apt-get"
    run scripts/install-deps.sh
    [ -e "$T/apt.log" ] && skip "something is missing on this machine: $(<"$T/apt.log")"
    assert_equal 0 "$status"
    assert_equal "" "$output"
}

@test "every tracked C, shell, Python and bats file carries an SPDX licence line" {
    command -v git >/dev/null && git -C "$RSTWATCH_ROOT" rev-parse --git-dir >/dev/null 2>&1 ||
        skip "not a git checkout"
    [ -f "$RSTWATCH_ROOT/LICENSE" ]
    grep -q '^MIT License' "$RSTWATCH_ROOT/LICENSE"
    local f missing=""
    while IFS= read -r f; do
        # First line, or the second after a shebang.
        head -n 2 "$RSTWATCH_ROOT/$f" | grep -q 'SPDX-License-Identifier: MIT' || missing+="$f"$'\n'
    done < <(git -C "$RSTWATCH_ROOT" ls-files '*.c' '*.h' '*.sh' '*.py' '*.bats')
    assert_equal "" "$missing" "files without an SPDX line"
}
