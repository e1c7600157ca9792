# SPDX-License-Identifier: MIT
# rstwatch — build, test, demo, bench, install, package.
#
#   make                 build/librstwatch.so and build/rstwatch
#   make man             build/man/rstwatch.1 and rstwatch.7 (scdoc)
#   make test            install deps, build with -Werror, run every suite, print "N passed, N failed"
#   make demo            a curl reset, recorded and explained
#   make bench           benchmark table (ratios against bare runs)
#   make SANITIZE=address,undefined test    the same suite under ASan+UBSan
#   make sanitize-build  the ASan+UBSan build in build-san/ (the sanitizer phase of make test)
#   make tsan-build      the ThreadSanitizer build in build-tsan/ (the tsan phase of make test)
#   make fuzz            libFuzzer targets for the log reader and config parser
#   make format-check    clang-format conformance
#   make install   [PREFIX=/usr/local] [LIBDIR=$(PREFIX)/lib] [DESTDIR=]
#   make uninstall [the same variables]
#   make deb             ./rstwatch_$(VERSION)_<arch>.deb (dpkg-buildpackage -us -uc -b, in build/deb/)
#
# Flags: CFLAGS, CPPFLAGS and LDFLAGS (from the environment, the command line
# or dpkg-buildflags) are the packager's; the flags rstwatch itself needs are
# kept apart in RSTWATCH_* variables and always added after them, so a
# command-line CFLAGS cannot drop -std=c11 or -D_GNU_SOURCE. Warnings are
# errors only with WERROR=1 (make test and CI set it).

CC      ?= gcc
SANITIZE ?=
WERROR  ?=
VERSION := 0.1.0

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
PKGLIBDIR ?= $(LIBDIR)/rstwatch
MANDIR  ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DESTDIR ?=

ifeq ($(SANITIZE),)
BUILD   ?= build
CFLAGS  ?= -g -O2
else
BUILD   ?= build-san
CFLAGS  ?= -g -O1 -fno-omit-frame-pointer
RSTWATCH_SANFLAGS := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
endif

RSTWATCH_WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
                 $(if $(filter 1 yes,$(WERROR)),-Werror)
RSTWATCH_CPPFLAGS := -D_GNU_SOURCE -DRSTWATCH_VERSION=\"$(VERSION)\"
RSTWATCH_CFLAGS := -std=c11 $(RSTWATCH_WARN) $(RSTWATCH_SANFLAGS)
# Immediate binding and RELRO whatever LDFLAGS says: the shim is preloaded
# into every program it watches.
RSTWATCH_LDFLAGS := -Wl,-z,relro -Wl,-z,now $(RSTWATCH_SANFLAGS)

# The order matters: the packager's flags first, ours after them.
ALL_CFLAGS = $(CPPFLAGS) $(RSTWATCH_CPPFLAGS) $(CFLAGS) $(RSTWATCH_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(RSTWATCH_LDFLAGS)

SAN_RUNTIME := $(if $(findstring address,$(SANITIZE)),$(shell $(CC) -print-file-name=libasan.so))

SHIM_SRC := $(wildcard shim/*.c)
SHIM_OBJ := $(SHIM_SRC:shim/%.c=$(BUILD)/shim/%.o)
SHIM_CFLAGS = $(ALL_CFLAGS) -fPIC -fvisibility=hidden -ftls-model=initial-exec -fno-plt

# The CLI shares the options table and the record schema (shim/schema.h) with the shim.
# It finds the library at the installed PKGLIBDIR first (then next to itself,
# for the build tree; RSTWATCH_LIB overrides both).
CLI_SRC := $(wildcard cli/*.c)
# `rstwatch capture` writes its records through the shim's own writers (the
# schema's keys, the rate limit and summaries, the sinks), compiled again here.
CLI_SHIM := options strbuf recfmt clock ratelimit summary sink real sandbox
CLI_OBJ := $(CLI_SRC:cli/%.c=$(BUILD)/cli/%.o) $(CLI_SHIM:%=$(BUILD)/cli/shim_%.o)
CLI_CFLAGS = $(ALL_CFLAGS) -fPIE -Ishim -DRSTWATCH_SAN_RUNTIME=\"$(SAN_RUNTIME)\" \
             -DRSTWATCH_PKGLIBDIR=\"$(PKGLIBDIR)\"
CLI_LIBS := -ljansson -lm -lpcap

HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPERS := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/helpers/%)
UNIT_SRC := $(wildcard tests/unit/*.c)
UNITS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)

MAN_SRC := docs/man/rstwatch.1.scd docs/man/rstwatch.7.scd
MAN_OUT := $(MAN_SRC:docs/man/%.scd=$(BUILD)/man/%)
COMPLETION := completion/rstwatch.bash

.PHONY: all man deps test demo bench fuzz clean format format-check install uninstall \
        check-helpers deb sanitize-build tsan-build

all: $(BUILD)/librstwatch.so $(BUILD)/rstwatch

deps:
	@scripts/install-deps.sh

$(BUILD)/shim/%.o: shim/%.c $(wildcard shim/*.h) | $(BUILD)/shim
	@echo "  CC      $<"
	@$(CC) $(SHIM_CFLAGS) -c $< -o $@

$(BUILD)/librstwatch.so: $(SHIM_OBJ) shim/shim.map
	@echo "  LD      $@"
	@$(CC) $(SHIM_CFLAGS) $(ALL_LDFLAGS) -shared -Wl,--version-script=shim/shim.map \
	    -o $@ $(SHIM_OBJ) -ldl -lpthread

$(BUILD)/cli/%.o: cli/%.c $(wildcard cli/*.h) $(wildcard shim/*.h) Makefile | $(BUILD)/cli
	@echo "  CC      $<"
	@$(CC) $(CLI_CFLAGS) -c $< -o $@

$(BUILD)/cli/shim_%.o: shim/%.c $(wildcard shim/*.h) | $(BUILD)/cli
	@$(CC) $(CLI_CFLAGS) -c $< -o $@

$(BUILD)/rstwatch: $(CLI_OBJ)
	@echo "  LD      $@"
	@$(CC) $(CLI_CFLAGS) $(ALL_LDFLAGS) -pie -o $@ $(CLI_OBJ) $(CLI_LIBS)

# One rule for every helper; the seccomp launcher alone also links libseccomp.
HELPER_LIBS := -lpthread
$(BUILD)/helpers/seccomp_exec: HELPER_LIBS += -lseccomp
$(BUILD)/helpers/%: tests/helpers/%.c $(wildcard tests/helpers/*.h) | $(BUILD)/helpers
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(HELPER_LIBS)

# Unit tests link the shim's objects directly (hidden symbols are visible to a static link).
$(BUILD)/unit/%: tests/unit/%.c tests/unit/tap.h tests/unit/conn_fixture.h $(SHIM_OBJ) | $(BUILD)/unit
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -Ishim $(ALL_LDFLAGS) -o $@ $< \
	    $(filter-out $(BUILD)/shim/hooks.o,$(SHIM_OBJ)) $(UNIT_EXTRA) -ldl -lpthread -ljansson

# The schema test also writes a packet record through rstwatch capture's writer.
$(BUILD)/unit/schema_test: $(BUILD)/cli/capture_record.o $(BUILD)/cli/capture_verdict.o
$(BUILD)/unit/schema_test: UNIT_EXTRA = -Icli $(BUILD)/cli/capture_record.o $(BUILD)/cli/capture_verdict.o -lm
# The capture verdict's table of cases needs only the verdict.
$(BUILD)/unit/capture_verdict_test: $(BUILD)/cli/capture_verdict.o
$(BUILD)/unit/capture_verdict_test: UNIT_EXTRA = -Icli $(BUILD)/cli/capture_verdict.o -lm

# The CLI's unit tests (the log reader, the metrics state) link the CLI's objects (all but
# main) instead of the shim's.
CLI_UNIT_OBJ := $(filter-out $(BUILD)/cli/main.o,$(CLI_OBJ))
CLI_UNITS := $(BUILD)/unit/logread_test $(BUILD)/unit/metrics_test
$(CLI_UNITS): $(BUILD)/unit/%: tests/unit/%.c tests/unit/tap.h $(CLI_UNIT_OBJ) | $(BUILD)/unit
	@echo "  CC      $<"
	@$(CC) $(CLI_CFLAGS) -Icli $(ALL_LDFLAGS) -pie -o $@ $< $(CLI_UNIT_OBJ) $(CLI_LIBS)

# Man pages: written once in scdoc; the environment section is generated from
# the options table (shim/options.c), as --help is.
$(BUILD)/envdoc: docs/man/envdoc.c shim/options.c shim/options.h | $(BUILD)/man
	@$(CC) $(ALL_CFLAGS) -Ishim $(ALL_LDFLAGS) -o $@ docs/man/envdoc.c shim/options.c

$(BUILD)/man/%: docs/man/%.scd $(BUILD)/envdoc | $(BUILD)/man
	@echo "  SCDOC   $@"
	@$(BUILD)/envdoc $< | scdoc >$@.tmp && mv $@.tmp $@

man: $(MAN_OUT)

$(BUILD)/shim $(BUILD)/cli $(BUILD)/helpers $(BUILD)/unit $(BUILD)/man:
	@mkdir -p $@

check-helpers: $(HELPERS) $(UNITS)

# The shim, CLI, helpers and unit tests built with ASan+UBSan into build-san/,
# whatever this make's own SANITIZE/BUILD: tests/run.sh runs the suite again
# against it.
sanitize-build:
	@$(MAKE) --no-print-directory SANITIZE=address,undefined BUILD=build-san all check-helpers

# The same with ThreadSanitizer into build-tsan/: tests/tsan.sh runs the threaded
# programs against it.
tsan-build:
	@$(MAKE) --no-print-directory SANITIZE=thread BUILD=build-tsan all check-helpers

test: deps
	@$(MAKE) --no-print-directory WERROR=1 all man check-helpers
	@WERROR=1 BUILD=$(BUILD) SAN_RUNTIME=$(SAN_RUNTIME) tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all check-helpers >/dev/null
	@BUILD=$(BUILD) SAN_RUNTIME=$(SAN_RUNTIME) scripts/demo.sh

bench:
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory all check-helpers
	@BUILD=$(BUILD) scripts/bench/run.py
	@BUILD=$(BUILD) scripts/bench/report_speed.py

fuzz:
	@scripts/install-deps.sh --fuzz
	@scripts/fuzz.sh

# README's picture of one incident (docs/img/incident.png), from a real recorded reset.
.PHONY: screenshot
screenshot: deps
	@$(MAKE) --no-print-directory all check-helpers >/dev/null
	@BUILD=$(BUILD) scripts/screenshot.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@scripts/format-check.sh

install: all man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(BUILD)/rstwatch $(DESTDIR)$(BINDIR)/rstwatch
	install -m 0644 $(BUILD)/librstwatch.so $(DESTDIR)$(PKGLIBDIR)/librstwatch.so
	install -m 0644 $(BUILD)/man/rstwatch.1 $(DESTDIR)$(MANDIR)/man1/rstwatch.1
	install -m 0644 $(BUILD)/man/rstwatch.7 $(DESTDIR)$(MANDIR)/man7/rstwatch.7
	install -m 0644 $(COMPLETION) $(DESTDIR)$(BASHCOMPDIR)/rstwatch

# Removes exactly what install put there (and the library directory if empty).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/rstwatch $(DESTDIR)$(PKGLIBDIR)/librstwatch.so \
	    $(DESTDIR)$(MANDIR)/man1/rstwatch.1 $(DESTDIR)$(MANDIR)/man7/rstwatch.7 \
	    $(DESTDIR)$(BASHCOMPDIR)/rstwatch
	-rmdir $(DESTDIR)$(PKGLIBDIR) 2>/dev/null

# The package is built from a copy of the source in build/deb/ so that
# dpkg-buildpackage's files (debian/rstwatch/, debian/files, ../*.changes)
# never land in the working tree or next to it.
DEB_ARCH = $(shell dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null)
deb:
	@scripts/install-deps.sh --deb
	@rm -rf build/deb && mkdir -p build/deb/rstwatch-$(VERSION)
	@tar --exclude=./build --exclude=./build-san --exclude=./build-tsan --exclude=./build-fuzz --exclude=./.git \
	    --exclude=./tests/.tmp -cf - . | tar -xf - -C build/deb/rstwatch-$(VERSION)
	@cd build/deb/rstwatch-$(VERSION) && dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
	    { tail -40 ../build.log >&2; exit 1; }
	@cp build/deb/rstwatch_$(VERSION)_$(DEB_ARCH).deb .
	@echo "rstwatch_$(VERSION)_$(DEB_ARCH).deb (apt install ./rstwatch_$(VERSION)_$(DEB_ARCH).deb)"

clean:
	rm -rf build build-san build-tsan build-fuzz rstwatch_*.deb

# Differential fuzzer, long run (tests/fuzzdiff/, tests/helpers/fuzzdiff.c):
# FUZZDIFF_SEEDS seeds x 4 modes (defaults, RECORD=all, RETRY=connect,
# RETRY=idempotent), each sequence run bare and under the shim. The short run
# is tests/fuzzdiff.bats. FUZZDIFF_FLAGS=--known: divergences of the known
# defects listed in tests/fuzzdiff/regressions.txt do not fail the run.
FUZZDIFF_FIRST ?= 100000
FUZZDIFF_SEEDS ?= 25000
FUZZDIFF_FLAGS ?= --known
.PHONY: fuzz-diff
fuzz-diff:
	@$(MAKE) --no-print-directory all check-helpers
	@BUILD=$(BUILD) SAN_RUNTIME=$(SAN_RUNTIME) tests/fuzzdiff/fuzzdiff.py --first $(FUZZDIFF_FIRST) \
	    --count $(FUZZDIFF_SEEDS) --chunk 2000 $(FUZZDIFF_FLAGS)
