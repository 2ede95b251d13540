# imago: the two commands are `make test` and `make check-all-arch`.
# Both install what is missing through ci/install-deps.sh first.

BUILD   ?= build
PYTHON  ?= /usr/bin/python3
PYTEST  ?= $(PYTHON) -m pytest
# Where the encoder tables are read from (the self-tests point this at a mutated copy).
TABLES  ?= encoders
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)

TARGETS := x86_64 i386 arm aarch64
CC_x86_64  := gcc
CC_i386    := i686-linux-gnu-gcc
CC_arm     := arm-linux-gnueabihf-gcc
CC_aarch64 := aarch64-linux-gnu-gcc

WARN    := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Werror
CFLAGS  ?= -O2 -g
BASEFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -Iencoders/core -I$(BUILD)/gen
SANFLAGS  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Library sources. The loader part is built for every host (it is all the runner needs).
CORE_SRC   := encoders/core/common.c $(wildcard loader/*.c)
ENC_SRC    := $(filter-out encoders/core/common.c,$(wildcard encoders/core/*.c)) \
              $(wildcard encoders/x86/*.c encoders/a64/*.c encoders/a32/*.c)
EMU_SRC    := $(wildcard emu/*.c)
LIB_SRC    := $(CORE_SRC) $(ENC_SRC) $(EMU_SRC)
TOOL_SRC   := $(wildcard tools/*.c)
TEST_SRC   := $(wildcard tests/*.c)
TABLE_SRC  := $(wildcard $(TABLES)/x86/*.tbl $(TABLES)/a64/*.tbl $(TABLES)/a32/*.tbl)
GEN_HDR    := $(BUILD)/gen/tables.h

HOST_LIBS  := -lunicorn -lpthread

# Keep intermediate objects (tests, sanitizer builds) between runs.
.SECONDARY:

.PHONY: all deps test check-all-arch test-c test-py runners clean format bench help
.DEFAULT_GOAL := all

all: $(BUILD)/bin/imago runners

help:
	@echo "make test            C tests (plain and ASan+UBSan) and the CLI/self-test suite"
	@echo "make check-all-arch  every encoding vs GNU as, every program on every target x engine"
	@echo "make all             build/bin/imago and the runners for every target"

deps:
	@bash ci/install-deps.sh

# ---- generated tables -------------------------------------------------------
$(GEN_HDR): tools/gentables.py $(TABLE_SRC)
	@mkdir -p $(dir $@)
	$(PYTHON) tools/gentables.py --tables $(TABLES) -o $@

# ---- host build ---------------------------------------------------------------
$(BUILD)/obj/%.o: %.c $(GEN_HDR) $(wildcard include/imago/*.h encoders/core/*.h encoders/*/*.h loader/*.h emu/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC_x86_64) $(BASEFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.c $(GEN_HDR) $(wildcard include/imago/*.h encoders/core/*.h encoders/*/*.h loader/*.h emu/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC_x86_64) $(BASEFLAGS) $(SANFLAGS) -c $< -o $@

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)

$(BUILD)/bin/imago: $(LIB_OBJ) $(TOOL_OBJ)
	@mkdir -p $(dir $@)
	$(CC_x86_64) $(CFLAGS) -o $@ $^ $(HOST_LIBS)

# ---- runners: one static binary per target, built with that target's gcc ----
define RUNNER_RULES
$(BUILD)/obj-$(1)/%.o: %.c $(wildcard include/imago/*.h encoders/core/*.h loader/*.h)
	@mkdir -p $$(dir $$@)
	$(CC_$(1)) $(BASEFLAGS) $(CFLAGS) -c $$< -o $$@

$(BUILD)/bin/imago-runner-$(1): $(patsubst %.c,$(BUILD)/obj-$(1)/%.o,$(CORE_SRC) runner/runner.c)
	@mkdir -p $$(dir $$@)
	$(CC_$(1)) -static $(CFLAGS) -o $$@ $$^
endef
$(foreach t,$(TARGETS),$(eval $(call RUNNER_RULES,$(t))))

runners: $(foreach t,$(TARGETS),$(BUILD)/bin/imago-runner-$(t))

# ---- C tests -------------------------------------------------------------------
TEST_BINS     := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
SAN_TEST_BINS := $(TEST_SRC:tests/%.c=$(BUILD)/san-tests/%)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC_x86_64) $(CFLAGS) -o $@ $^ $(HOST_LIBS)

$(BUILD)/san-tests/%: $(BUILD)/san/tests/%.o $(LIB_SRC:%.c=$(BUILD)/san/%.o)
	@mkdir -p $(dir $@)
	$(CC_x86_64) $(SANFLAGS) -o $@ $^ $(HOST_LIBS)

test-c: $(TEST_BINS) $(SAN_TEST_BINS) all
	@set -e; for t in $(TEST_BINS); do echo "== $$t"; IMAGO_RUNNER_DIR=$(BUILD)/bin $$t; done
	@set -e; for t in $(SAN_TEST_BINS); do echo "== $$t (ASan+UBSan)"; \
	    IMAGO_RUNNER_DIR=$(BUILD)/bin ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t; done

test-py: all
	$(PYTEST) -q -n $(JOBS) tests --junitxml=$(BUILD)/reports/test.xml

# Both halves run even when the first fails; the status is non-zero if either failed.
test: deps
	@status=0; $(MAKE) --no-print-directory test-c || status=1; \
	    $(MAKE) --no-print-directory test-py || status=1; exit $$status

check-all-arch: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p $(BUILD)/reports
	$(PYTEST) -q -n $(JOBS) conformance --junitxml=$(BUILD)/reports/check-all-arch.xml

format:
	clang-format -i $(wildcard include/imago/*.h encoders/*/*.c encoders/*/*.h loader/*.c emu/*.c emu/*.h runner/*.c tools/*.c tests/*.c)

clean:
	rm -rf $(BUILD)
