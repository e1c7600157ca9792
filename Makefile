# rstwatch — build, test, demo, bench.
#
#   make                 build/librstwatch.so and build/rstwatch
#   make test            install deps, build, run every suite, print "N passed, N failed"
#   make demo            a curl reset, recorded and explained
#   make bench           benchmark table (ratios against bare runs)
#   make SANITIZE=address,undefined test    the same suite under ASan+UBSan
#   make sanitize-build  the ASan+UBSan build in build-san/ (the sanitizer phase of make test)
#   make fuzz            libFuzzer targets for the log reader and config parser
#   make format-check    clang-format conformance
#   make install PREFIX=/usr/local DESTDIR=

CC      ?= gcc
PREFIX  ?= /usr/local
SANITIZE ?=
VERSION := 0.1.0

ifeq ($(SANITIZE),)
BUILD   ?= build
OPT     ?= -O2
else
BUILD   ?= build-san
OPT     ?= -O1 -fno-omit-frame-pointer
SANFLAGS := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
endif

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS  ?= -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) -DRSTWATCH_VERSION=\"$(VERSION)\"
SAN_RUNTIME := $(if $(findstring address,$(SANITIZE)),$(shell $(CC) -print-file-name=libasan.so))

SHIM_SRC := $(wildcard shim/*.c)
SHIM_OBJ := $(SHIM_SRC:shim/%.c=$(BUILD)/shim/%.o)
SHIM_CFLAGS := $(CFLAGS) -fPIC -fvisibility=hidden -ftls-model=initial-exec -fno-plt

# The CLI shares the options table (and the record vocabulary) with the shim.
CLI_SRC := $(wildcard cli/*.c)
CLI_OBJ := $(CLI_SRC:cli/%.c=$(BUILD)/cli/%.o) $(BUILD)/cli/shim_options.o
CLI_CFLAGS := $(CFLAGS) -Ishim -DRSTWATCH_SAN_RUNTIME=\"$(SAN_RUNTIME)\"
CLI_LIBS := -ljansson

HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPERS := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/helpers/%)
UNIT_SRC := $(wildcard tests/unit/*.c)
UNITS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)

.PHONY: all deps test demo bench fuzz clean format format-check install check-helpers sanitize-build

all: $(BUILD)/librstwatch.so $(BUILD)/rstwatch

deps:
	@scripts/install-deps.sh

$(BUILD)/shim/%.o: shim/%.c $(wildcard shim/*.h) | $(BUILD)/shim
	@echo "  CC      $<"
	@$(CC) $(SHIM_CFLAGS) -c $< -o $@

$(BUILD)/librstwatch.so: $(SHIM_OBJ) shim/shim.map
	@echo "  LD      $@"
	@$(CC) $(SHIM_CFLAGS) -shared -Wl,--version-script=shim/shim.map -Wl,-z,now -Wl,-z,relro \
	    -o $@ $(SHIM_OBJ) -ldl -lpthread

$(BUILD)/cli/%.o: cli/%.c $(wildcard cli/*.h) $(wildcard shim/*.h) | $(BUILD)/cli
	@echo "  CC      $<"
	@$(CC) $(CLI_CFLAGS) -c $< -o $@

$(BUILD)/cli/shim_options.o: shim/options.c shim/options.h | $(BUILD)/cli
	@$(CC) $(CLI_CFLAGS) -c $< -o $@

$(BUILD)/rstwatch: $(CLI_OBJ)
	@echo "  LD      $@"
	@$(CC) $(CLI_CFLAGS) -o $@ $(CLI_OBJ) $(CLI_LIBS) -lm

$(BUILD)/helpers/%: tests/helpers/%.c $(wildcard tests/helpers/*.h) | $(BUILD)/helpers
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -o $@ $< -lpthread

# Unit tests link the shim's objects directly (hidden symbols are visible to a static link).
$(BUILD)/unit/%: tests/unit/%.c tests/unit/tap.h $(SHIM_OBJ) | $(BUILD)/unit
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -Ishim -o $@ $< $(filter-out $(BUILD)/shim/hooks.o,$(SHIM_OBJ)) -ldl -lpthread -ljansson

$(BUILD)/shim $(BUILD)/cli $(BUILD)/helpers $(BUILD)/unit:
	@mkdir -p $@

check-helpers: $(HELPERS) $(UNITS)

# The shim, CLI, helpers and unit tests built with ASan+UBSan into build-san/,
# whatever this make's own SANITIZE/BUILD: tests/run.sh runs the suite again
# against it.
sanitize-build:
	@$(MAKE) --no-print-directory SANITIZE=address,undefined BUILD=build-san all check-helpers

test: deps
	@$(MAKE) --no-print-directory all check-helpers
	@BUILD=$(BUILD) SAN_RUNTIME=$(SAN_RUNTIME) tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all check-helpers >/dev/null
	@BUILD=$(BUILD) SAN_RUNTIME=$(SAN_RUNTIME) scripts/demo.sh

bench:
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory all check-helpers
	@BUILD=$(BUILD) scripts/bench/run.py

fuzz:
	@scripts/install-deps.sh --fuzz
	@scripts/fuzz.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@scripts/format-check.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/rstwatch
	install -m 0755 $(BUILD)/rstwatch $(DESTDIR)$(PREFIX)/bin/rstwatch
	install -m 0755 $(BUILD)/librstwatch.so $(DESTDIR)$(PREFIX)/lib/rstwatch/librstwatch.so

clean:
	rm -rf build build-san build-fuzz
