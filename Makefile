# imago: the two commands are `make test` and `make check-all-arch`.
# Both install what is missing through ci/install-deps.sh first.

BUILD   ?= build
PYTHON  ?= /usr/bin/python3
PYTEST  ?= $(PYTHON) -m pytest
# Where the encoder tables are read from (the self-tests point this at a mutated copy).
TABLES  ?= encoders
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)

TARGETS := x86_64 i386 arm aarch64
# Compilers and binutils by their triplet names: the same names on an x86-64 and
# an arm64 machine (the native toolchain installs them too).
CROSS_x86_64  := x86_64-linux-gnu-
CROSS_i386    := i686-linux-gnu-
CROSS_arm     := arm-linux-gnueabihf-
CROSS_aarch64 := aarch64-linux-gnu-
$(foreach t,$(TARGETS),$(eval CC_$(t) := $(CROSS_$(t))gcc)$(eval AR_$(t) := $(CROSS_$(t))ar))

# The machine make runs on, in imago's names, and the host imago's own C code is
# built for (`make HOST=aarch64`). HOSTS: the hosts `make check-all-arch` covers.
MACHINE := $(shell uname -m | sed -e 's/^amd64$$/x86_64/' -e 's/^arm64$$/aarch64/' \
                                  -e 's/^i[3-6]86$$/i386/' -e 's/^armv[6-8]l$$/arm/')
HOST    ?= $(MACHINE)
HOSTS   ?= $(TARGETS)
ifeq ($(filter $(HOST),$(TARGETS)),)
$(error HOST=$(HOST): imago builds for the hosts $(TARGETS) (this machine is $(MACHINE)))
endif
ifneq ($(filter-out $(TARGETS),$(HOSTS)),)
$(error HOSTS=$(HOSTS): unknown host $(filter-out $(TARGETS),$(HOSTS)); the hosts are $(TARGETS))
endif
# How a binary built for host h is started here: directly (the machine's own
# architecture, and i386 on x86_64), otherwise under qemu-user.
$(foreach t,$(TARGETS),$(eval RUN_$(t) := $(if $(strip $(filter $(t),$(MACHINE)) \
    $(if $(filter x86_64,$(MACHINE)),$(filter i386,$(t)))),,qemu-$(t))))

# The machine's own host builds into $(BUILD) (build/bin/imago), with Unicorn,
# linked dynamically. Other hosts build into $(BUILD)/host-<host>, linked
# statically (so qemu-user runs them without a sysroot) and without Unicorn unless
# UNICORN_<host>=1 and that host's libunicorn.a is installed.
hostdir = $(if $(filter $(1),$(MACHINE)),$(BUILD),$(BUILD)/host-$(1))
$(foreach t,$(TARGETS),$(eval UNICORN_$(t) ?= $(if $(filter $(t),$(MACHINE)),1,0)))
$(foreach t,$(TARGETS),$(eval LIBS_$(t) := $(if $(filter 1,$(UNICORN_$(t))),-lunicorn) -lpthread))
$(foreach t,$(TARGETS),$(eval LDFLAGS_$(t) := $(if $(filter $(t),$(MACHINE)),,-static)))
$(foreach t,$(TARGETS),$(eval DEFS_$(t) := $(if $(filter 1,$(UNICORN_$(t))),,-DIMAGO_NO_UNICORN)))
HOSTDIR := $(call hostdir,$(HOST))

WARN    := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Werror
CFLAGS  ?= -O2 -g
BASEFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -Iencoders/core -I$(BUILD)/gen
SANFLAGS  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Library sources. The loader part is built for every target (it is all the runner needs).
CORE_SRC   := encoders/core/common.c $(wildcard loader/*.c)
ENC_SRC    := $(filter-out encoders/core/common.c,$(wildcard encoders/core/*.c)) \
              $(wildcard encoders/x86/*.c encoders/a64/*.c encoders/a32/*.c)
EMU_SRC    := $(wildcard emu/*.c)
LIB_SRC    := $(CORE_SRC) $(ENC_SRC) $(EMU_SRC)
TOOL_SRC   := $(wildcard tools/*.c)
TEST_SRC   := $(wildcard tests/*.c)
TABLE_SRC  := $(wildcard $(TABLES)/x86/*.tbl $(TABLES)/a64/*.tbl $(TABLES)/a32/*.tbl)
GEN_HDR    := $(BUILD)/gen/tables.h
CAPDIS     := $(BUILD)/bin/imago-capdis
HEADERS    := $(wildcard include/imago/*.h encoders/core/*.h encoders/*/*.h encoders/*/*.def \
                         loader/*.h emu/*.h tests/*.h)

# Keep intermediate objects (tests, sanitizer builds) between runs.
.SECONDARY:

.PHONY: all host hosts deps test check-all-arch check-san test-c test-san test-py runners progs clean \
        format bench help
.DEFAULT_GOAL := all

# `make` builds the host's library, imago, its C tests, every target's runner and
# linked-programs driver (imago-progs-<target>), and imago-capdis (the conformance
# suite's capstone decoder).
all: host runners progs $(CAPDIS)

help:
	@echo "make test            C tests (plain and ASan+UBSan) and the CLI/self-test suite"
	@echo "make check-all-arch  every encoding vs GNU as, every program on every target x engine,"
	@echo "                     imago's own code on every host (HOSTS='$(HOSTS)'; SHARD=I/N)"
	@echo "make check-san       the C tests and check-all-arch with an ASan+UBSan imago"
	@echo "make all [HOST=h]    build/bin/imago (or build/host-h/), libimago.a and the runners"
	@echo "make hosts           the builds of every host in HOSTS"
	@echo "make fuzz            libFuzzer on the image reader and on the assembler, FUZZ_SECONDS (60) each"
	@echo "make bench           encoding speed vs asmjit/xbyak/Zydis, harness vs as+objdump,"
	@echo "                     the loader vs mmap+memcpy+mprotect (x86_64)"
	@echo "hosts: $(TARGETS); this machine: $(MACHINE)"

deps:
	@bash ci/install-deps.sh

# ---- generated tables -------------------------------------------------------
$(GEN_HDR): tools/gentables.py $(TABLE_SRC) $(wildcard encoders/*/kinds*.def)
	@mkdir -p $(dir $@)
	$(PYTHON) tools/gentables.py --tables $(TABLES) -o $@

# ---- per-architecture objects, the library, imago, the runners ---------------
# Every architecture compiles into $(BUILD)/obj-<arch>; the host build links its
# objects into lib/libimago.a and bin/imago, the runner of each target links the
# loader objects of that target.
define ARCH_RULES
$(BUILD)/obj-$(1)/%.o: %.c $(GEN_HDR) $(HEADERS)
	@mkdir -p $$(dir $$@)
	$(CC_$(1)) $(BASEFLAGS) $(DEFS_$(1)) $(CFLAGS) -c $$< -o $$@

$(call hostdir,$(1))/lib/libimago.a: $(LIB_SRC:%.c=$(BUILD)/obj-$(1)/%.o)
	@mkdir -p $$(dir $$@)
	rm -f $$@
	$(AR_$(1)) rcs $$@ $$^

$(call hostdir,$(1))/bin/imago: $(TOOL_SRC:%.c=$(BUILD)/obj-$(1)/%.o) $(call hostdir,$(1))/lib/libimago.a
	@mkdir -p $$(dir $$@)
	$(CC_$(1)) $(LDFLAGS_$(1)) $(CFLAGS) -o $$@ $$^ $(LIBS_$(1))

$(call hostdir,$(1))/tests/%: $(BUILD)/obj-$(1)/tests/%.o $(call hostdir,$(1))/lib/libimago.a
	@mkdir -p $$(dir $$@)
	$(CC_$(1)) $(LDFLAGS_$(1)) $(CFLAGS) -o $$@ $$^ $(LIBS_$(1))

$(BUILD)/bin/imago-runner-$(1): $(patsubst %.c,$(BUILD)/obj-$(1)/%.o,$(CORE_SRC) runner/runner.c)
	@mkdir -p $$(dir $$@)
	$(CC_$(1)) -static $(CFLAGS) -o $$@ $$^
endef
$(foreach t,$(TARGETS),$(eval $(call ARCH_RULES,$(t))))

# imago-progs-<target>: the linked programs' driver (tools/progs/progs.c; docs/testing.md,
# "Linked programs"), static like the runners, from that target's loader, encoder and
# assembler objects; conformance/test_link_programs.py runs it on every target x engine.
PROGS_SRC := $(CORE_SRC) $(ENC_SRC) tools/progs/progs.c
define PROGS_RULES
$(BUILD)/bin/imago-progs-$(1): $(patsubst %.c,$(BUILD)/obj-$(1)/%.o,$(PROGS_SRC))
	@mkdir -p $$(dir $$@)
	$(CC_$(1)) -static $(CFLAGS) -o $$@ $$^ -lpthread
endef
$(foreach t,$(TARGETS),$(eval $(call PROGS_RULES,$(t))))
# The machine's own build/bin/imago-progs also runs every target under unicorn.
$(BUILD)/obj-progs-unicorn.o: tools/progs/progs.c $(GEN_HDR) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC_$(MACHINE)) $(BASEFLAGS) -DIMAGO_PROGS_UNICORN $(CFLAGS) -c $< -o $@
$(BUILD)/bin/imago-progs: $(BUILD)/obj-progs-unicorn.o $(BUILD)/lib/libimago.a
	@mkdir -p $(dir $@)
	$(CC_$(MACHINE)) $(CFLAGS) -o $@ $^ $(LIBS_$(MACHINE))
progs: $(foreach t,$(TARGETS),$(BUILD)/bin/imago-progs-$(t)) \
       $(if $(filter 1,$(UNICORN_$(MACHINE))),$(BUILD)/bin/imago-progs)

# The host build: library, imago and the C test programs.
HOST_TEST_BINS := $(TEST_SRC:tests/%.c=$(HOSTDIR)/tests/%)
host: $(HOSTDIR)/lib/libimago.a $(HOSTDIR)/bin/imago $(HOST_TEST_BINS)

runners: $(foreach t,$(TARGETS),$(BUILD)/bin/imago-runner-$(t))

# imago-capdis: capstone's decoding of byte strings for conformance/test_disasm.py,
# built for the machine (it runs beside pytest, whatever HOST is).
$(CAPDIS): tools/capdis/capdis.c
	@mkdir -p $(dir $@)
	$(CC_$(MACHINE)) $(BASEFLAGS) $(CFLAGS) -o $@ $< -lcapstone

# Every host of HOSTS, and x86_64, the reference of the cross-host check.
hosts:
	@set -e; for h in $(sort x86_64 $(HOSTS)); do $(MAKE) --no-print-directory HOST=$$h host; done
	@$(MAKE) --no-print-directory runners

# ---- the machine's host under ASan+UBSan -----------------------------------------
$(BUILD)/san/%.o: %.c $(GEN_HDR) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC_$(MACHINE)) $(BASEFLAGS) $(SANFLAGS) -c $< -o $@

$(BUILD)/san/bin/imago: $(TOOL_SRC:%.c=$(BUILD)/san/%.o) $(LIB_SRC:%.c=$(BUILD)/san/%.o)
	@mkdir -p $(dir $@)
	$(CC_$(MACHINE)) $(SANFLAGS) -o $@ $^ $(LIBS_$(MACHINE))

# ---- C tests -------------------------------------------------------------------
# The host's test programs run where the host's binaries run (under qemu-user for
# a foreign host; IMAGO_NATIVE_LAUNCHER then starts that host's own runners the same
# way, as binfmt_misc would). The ASan+UBSan build is the machine's own host only.
SAN_TEST_BINS := $(TEST_SRC:tests/%.c=$(BUILD)/san-tests/%)
RUN_HOST      := $(RUN_$(HOST))
TEST_ENV      := IMAGO_RUNNER_DIR=$(BUILD)/bin $(if $(RUN_HOST),IMAGO_NATIVE_LAUNCHER=qemu-%t)

$(BUILD)/san-tests/%: $(BUILD)/san/tests/%.o $(LIB_SRC:%.c=$(BUILD)/san/%.o)
	@mkdir -p $(dir $@)
	$(CC_$(MACHINE)) $(SANFLAGS) -o $@ $^ $(LIBS_$(MACHINE))

test-c: host runners
	@set -e; for t in $(HOST_TEST_BINS); do echo "== $$t$(if $(RUN_HOST), (host $(HOST) under $(RUN_HOST)))"; \
	    $(TEST_ENV) $(RUN_HOST) $$t; done
	@if [ "$(HOST)" = "$(MACHINE)" ]; then $(MAKE) --no-print-directory test-san; \
	    else echo "== ASan+UBSan C tests: not run for HOST=$(HOST) (they run for the machine's host, $(MACHINE))"; fi

test-san: $(SAN_TEST_BINS) runners
	@set -e; for t in $(SAN_TEST_BINS); do echo "== $$t (ASan+UBSan)"; \
	    IMAGO_RUNNER_DIR=$(BUILD)/bin ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t; done

test-py: all
	$(PYTEST) -q -n $(JOBS) tests --junitxml=$(BUILD)/reports/test.xml

# Both halves run even when the first fails; the status is non-zero if either failed.
test: deps
	@status=0; $(MAKE) --no-print-directory test-c || status=1; \
	    $(MAKE) --no-print-directory test-fuzz-replay || status=1; \
	    $(MAKE) --no-print-directory test-py || status=1; exit $$status

# ---- fuzzing (docs/testing.md, "Fuzzing") ------------------------------------------
# Two libFuzzer targets: image (fuzz/fuzz_image.c: the image reader, relocator and loader;
# seeds fuzz/corpus, crash inputs fuzz/crashes) and asm (fuzz/fuzz_asm.c: the text
# assembler of every target; seeds made from conformance/programs into
# build/fuzz/asm/seeds by fuzz/make_seeds.py, crash inputs fuzz/crashes-asm).
# `make fuzz`: each target of FUZZ_TARGETS built with clang and run for FUZZ_SECONDS, from
# its committed seeds and its own corpus (build/fuzz/<t>/corpus); new crash inputs are
# copied into the committed crash directory. `make test-fuzz-replay` (part of `make test`):
# each target built with gcc and ASan+UBSan into fuzz/replay.c, on every committed seed and
# crash input. `make fuzz-seeds`: rewrite fuzz/corpus from conformance/programs.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_ARGS    ?=
FUZZ_TARGETS ?= image asm
FUZZ_SRC_image  := fuzz/fuzz_image.c fuzz/fuzz_common.c $(CORE_SRC)
FUZZ_SRC_asm    := fuzz/fuzz_asm.c fuzz/fuzz_common.c $(CORE_SRC) $(ENC_SRC)
FUZZ_SEEDS_image   := fuzz/corpus
FUZZ_SEEDS_asm     := $(BUILD)/fuzz/asm/seeds
FUZZ_MADE_asm      := $(FUZZ_SEEDS_asm)/.made
$(FUZZ_MADE_asm): fuzz/make_seeds.py $(wildcard conformance/programs/*/*.s conformance/programs/*/link/*.s)
	@rm -rf $(FUZZ_SEEDS_asm)
	@$(PYTHON) fuzz/make_seeds.py --asm-out $(FUZZ_SEEDS_asm)
	@touch $@
FUZZ_CRASHES_image := fuzz/crashes
FUZZ_CRASHES_asm   := fuzz/crashes-asm
# libFuzzer's default 2 GiB RSS limit is below what the asm target may use for a source at
# IM_ASM_MAX_CODE (two assemblies, an image write, read and write of up to 256 MiB each)
FUZZ_OPTS_image    :=
FUZZ_OPTS_asm      := -rss_limit_mb=6144
define FUZZ_RULES
$(BUILD)/fuzz/fuzz_$(1): fuzz/fuzz.h $(FUZZ_SRC_$(1)) $(GEN_HDR) $(HEADERS)
	@mkdir -p $$(dir $$@)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -Iencoders/core -I$(BUILD)/gen -g -O1 \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $$@ $(FUZZ_SRC_$(1)) -lpthread
$(BUILD)/fuzz/replay-$(1): fuzz/replay.c fuzz/fuzz.h $(patsubst %.c,$(BUILD)/san/%.o,$(FUZZ_SRC_$(1)))
	@mkdir -p $$(dir $$@)
	$(CC_$(MACHINE)) $(BASEFLAGS) $(SANFLAGS) -o $$@ $$(filter %.c %.o,$$^) -lpthread
fuzz-replay-$(1): $(BUILD)/fuzz/replay-$(1) $(FUZZ_MADE_$(1))
	@echo "== $$< $(FUZZ_SEEDS_$(1)) $(FUZZ_CRASHES_$(1)) (ASan+UBSan)"
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$< $(FUZZ_SEEDS_$(1)) $(FUZZ_CRASHES_$(1))
fuzz-$(1): $(BUILD)/fuzz/fuzz_$(1) $(FUZZ_MADE_$(1))
	@mkdir -p $(BUILD)/fuzz/$(1)/corpus $(BUILD)/fuzz/$(1)/artifacts $(FUZZ_CRASHES_$(1))
	@echo "== $$< for $(FUZZ_SECONDS) s"
	@status=0; ASAN_OPTIONS=detect_leaks=1 $$< -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_OPTS_$(1)) \
	    -artifact_prefix=$(BUILD)/fuzz/$(1)/artifacts/ $(FUZZ_ARGS) $(BUILD)/fuzz/$(1)/corpus \
	    $(FUZZ_SEEDS_$(1)) || status=$$$$?; \
	    for f in $(BUILD)/fuzz/$(1)/artifacts/*; do [ -f "$$$$f" ] || continue; \
	        case $$$$(basename $$$$f) in slow-unit-*) echo "slow input, not kept: $$$$f"; continue;; esac; \
	        n=$(FUZZ_CRASHES_$(1))/$$$$(basename $$$$f); \
	        [ -e "$$$$n" ] || { cp "$$$$f" "$$$$n"; echo "new crash input: $$$$n"; }; done; \
	    exit $$$$status
.PHONY: fuzz-$(1) fuzz-replay-$(1)
endef
$(foreach t,image asm,$(eval $(call FUZZ_RULES,$(t))))
test-fuzz-replay: $(foreach t,image asm,fuzz-replay-$(t))
fuzz: $(foreach t,$(FUZZ_TARGETS),fuzz-$(t))
fuzz-seeds: $(BUILD)/bin/imago
	$(PYTHON) fuzz/make_seeds.py --imago $(BUILD)/bin/imago --out fuzz/corpus
.PHONY: fuzz fuzz-seeds test-fuzz-replay

# The conformance suite: the machine's host against GNU, and every host of HOSTS
# against it (conformance/test_hosts.py). SHARD=I/N runs the I-th of N shards.
CONFORMANCE_ENV := IMAGO_HOSTS="$(HOSTS)"
CONFORMANCE_ARGS = -q -n $(JOBS) conformance $(if $(SHARD),--shard $(SHARD)) \
    --junitxml=$(BUILD)/reports/check-all-arch$(if $(SHARD),.shard-$(subst /,-of-,$(SHARD))).xml

check-all-arch: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(MAKE) --no-print-directory -j$(JOBS) hosts
	@mkdir -p $(BUILD)/reports
	$(CONFORMANCE_ENV) $(PYTEST) $(CONFORMANCE_ARGS)

# The sanitizer job: the C tests, then the conformance suite driving an ASan+UBSan
# build of imago (the machine's host only).
check-san: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all $(BUILD)/san/bin/imago
	@$(MAKE) --no-print-directory test-san
	@mkdir -p $(BUILD)/reports
	IMAGO_BIN=$(BUILD)/san/bin/imago IMAGO_REPORT=$(BUILD)/reports/check-san.json \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 IMAGO_HOSTS=$(MACHINE) \
	    $(PYTEST) -q -n $(JOBS) conformance --junitxml=$(BUILD)/reports/check-san.xml

# `make bench`: imago against asmjit, xbyak and Zydis, and the harness against GNU as +
# objdump alone (docs/bench.md). Not part of test or check-all-arch; nothing is timed there.
BENCH_ARGS ?=
$(BUILD)/bench/imago_bench: bench/imago_bench.c bench/bench.h bench/bench_imago.h bench/mix.def $(BUILD)/lib/libimago.a
	@mkdir -p $(dir $@)
	$(CC_$(MACHINE)) $(BASEFLAGS) -O2 -g -o $@ $< $(BUILD)/lib/libimago.a $(LIBS_$(MACHINE))

$(BUILD)/bench/imago_a64_bench: bench/imago_a64_bench.c bench/bench_a64.h bench/bench.h bench/bench_imago.h bench/mix_a64.def $(BUILD)/lib/libimago.a
	@mkdir -p $(dir $@)
	$(CC_$(MACHINE)) $(BASEFLAGS) -O2 -g -o $@ $< $(BUILD)/lib/libimago.a $(LIBS_$(MACHINE))

# The loader's bench runs x86-64 code: built and run on an x86_64 machine only.
LOADER_BENCH := $(if $(filter x86_64,$(MACHINE)),$(BUILD)/bench/loader_bench)
$(BUILD)/bench/loader_bench: bench/loader_bench.c $(BUILD)/lib/libimago.a
	@mkdir -p $(dir $@)
	$(CC_$(MACHINE)) $(BASEFLAGS) -O2 -g -o $@ $< $(BUILD)/lib/libimago.a $(LIBS_$(MACHINE))

bench: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all $(BUILD)/bench/imago_bench $(BUILD)/bench/imago_a64_bench $(LOADER_BENCH)
	$(PYTHON) bench/run.py --build $(BUILD) $(BENCH_ARGS)

format:
	clang-format -i $(wildcard include/imago/*.h encoders/*/*.c encoders/*/*.h loader/*.c emu/*.c emu/*.h runner/*.c tools/*.c tools/capdis/*.c tools/progs/*.c tests/*.c bench/*.c bench/*.h bench/*.cpp)

clean:
	rm -rf $(BUILD)
