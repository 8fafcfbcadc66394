# agent toolkit: plain GNU make.  `make help` lists the targets.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/agent
MANDIR  ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSTEMDDIR  ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR  ?= /etc
DESTDIR ?=

VERSION := 0.1.0
CC      ?= cc
CFLAGS  ?= -O2 -g
PKG_CONFIG ?= pkg-config

# Sanitizer builds live in their own tree so they never mix with normal objects.
SANITIZE ?=
ifneq ($(SANITIZE),)
O ?= build/san
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
O ?= build
SAN_FLAGS :=
endif

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes -Wpointer-arith -Wvla -Wno-unused-parameter \
        -Wno-missing-field-initializers -Wno-format-truncation
ifeq ($(CI),true)
WARN += -Werror
endif

pc = $(shell $(PKG_CONFIG) $(1) $(2) 2>/dev/null)
# libjq 1.6 ships no .pc file.
JQ_LIBS      := -ljq
# SQLite is linked statically: every stage of the tick opens the store, and
# resolving libsqlite3's symbols at each process start cost ~0.5 ms of the
# idle tick's ~10 (bench/idle-tick.sh).  SQLITE_LIBS= on the command line
# links it dynamically again.
SQLITE_LIBS  := -Wl,-Bstatic -lsqlite3 -Wl,-Bdynamic -lm -lz -lpthread -ldl
PQ_CFLAGS    := $(call pc,--cflags,libpq)
PQ_LIBS      := $(call pc,--libs,libpq)
# libpq and libcurl are loaded with dlopen when first needed (lib/base/dl.c): a
# process that never uses them does not pay for loading them.
CURL_LIBS    :=
MHD_LIBS     := $(call pc,--libs,libmicrohttpd)
YAML_LIBS    := $(call pc,--libs,yaml-0.1)
CMOCKA_LIBS  := $(call pc,--libs,cmocka)
STORE_LIBS   := $(SQLITE_LIBS) $(JQ_LIBS) -lm -ldl

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN_FLAGS) $(PQ_CFLAGS) \
             -Ilib -I. -Icmd -I$(O)/gen -MMD -MP \
             -DAGENT_VERSION='"$(VERSION)"' -DAGENT_DATADIR='"$(DATADIR)"'
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS)

# Commands written in C, and what each links beyond libagent.a.
C_CMDS := agent-db agent-gate agent-budget agent-invoke agent-trigger agent-metrics-agg agent-control agent-sim
LIBS_agent-db     := $(STORE_LIBS)
LIBS_agent-gate   := $(STORE_LIBS)
LIBS_agent-budget := $(STORE_LIBS)
LIBS_agent-invoke := $(STORE_LIBS) $(CURL_LIBS) $(YAML_LIBS)
LIBS_agent-sim    := $(MHD_LIBS) $(JQ_LIBS) $(YAML_LIBS) -lm -lpthread
ARCH_agent-sim    := $(O)/libsim.a
LIBS_agent-trigger     := $(STORE_LIBS) $(CURL_LIBS)
LIBS_agent-metrics-agg := $(STORE_LIBS) $(CURL_LIBS)
LIBS_agent-control     := $(STORE_LIBS) $(CURL_LIBS)
# the operator's views and the monitor
C_CMDS += agent-status agent-history agent-session agent-logs agent-monitor
LIBS_agent-status  := $(STORE_LIBS)
LIBS_agent-history := $(STORE_LIBS)
LIBS_agent-session := $(STORE_LIBS)
LIBS_agent-logs    := $(STORE_LIBS)
LIBS_agent-monitor := $(STORE_LIBS) $(CURL_LIBS)
# spend reports
C_CMDS += agent-cost
LIBS_agent-cost    := $(STORE_LIBS)

SH_CMDS := agent-cycle agent

# lib/ in layers (lib/README): base, then store and net, then the domain at
# the top of lib/, then obs and views.  The simulator (sim/) is an archive of
# its own that only agent-sim links.
LIB_SRC := $(wildcard lib/*.c lib/*/*.c)
LIB_OBJ := $(LIB_SRC:lib/%.c=$(O)/lib/%.o) $(O)/gen/sql_gen.o
SIM_SRC := $(wildcard sim/*.c)
SIM_OBJ := $(SIM_SRC:sim/%.c=$(O)/sim/%.o)
CMD_BIN := $(C_CMDS:%=$(O)/bin/%)
SH_BIN  := $(SH_CMDS:%=$(O)/bin/%)
UNIT_SRC := $(wildcard t/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:t/unit/%.c=$(O)/t/%)
SQL_SRC := $(sort $(wildcard share/sql/*.sql share/sql/sqlite/*.sql share/sql/postgres/*.sql))

.PHONY: all check unit deps k8s demo bench chaos lint install uninstall clean help fuzz fuzz-bin
.DEFAULT_GOAL := all

all: $(CMD_BIN) $(SH_BIN)

$(O)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/gen/sql_gen.c: $(SQL_SRC) build-aux/embed-sql Makefile
	@mkdir -p $(@D)
	sh build-aux/embed-sql $(SQL_SRC) > $@.tmp && mv $@.tmp $@

$(O)/gen/sql_gen.o: $(O)/gen/sql_gen.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/sim/%.o: sim/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/libagent.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/libsim.a: $(SIM_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/cmd/%.o: cmd/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

.SECONDEXPANSION:
$(CMD_BIN): $(O)/bin/%: $(O)/cmd/%.o $(O)/cmd/cli.o $$(ARCH_$$*) $(O)/libagent.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(O)/cmd/cli.o $(ARCH_$*) $(O)/libagent.a $(LIBS_$*)

$(SH_BIN): $(O)/bin/%: cmd/%
	@mkdir -p $(@D)
	cp $< $@ && chmod +x $@

$(O)/t/%: t/unit/%.c $(O)/libagent.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/libagent.a \
	  $(STORE_LIBS) $(PQ_LIBS) $(CURL_LIBS) $(YAML_LIBS) $(CMOCKA_LIBS) -lm

# libFuzzer harnesses (t/fuzz/NAME.c), built with clang against a library
# of their own in build/fuzz; each runs FUZZ_SECONDS on t/fuzz/corpus/NAME
# (new inputs go to build/fuzz/corpus/NAME) and any crash, leak or
# sanitizer report fails the target.
FUZZ_TARGETS := $(patsubst t/fuzz/%.c,%,$(wildcard t/fuzz/*.c))
FUZZ_SECONDS ?= 30
FUZZ_SAN := fuzzer-no-link,address,undefined
fuzz:
	@sh build-aux/deps
	@$(MAKE) --no-print-directory CC=clang O=build/fuzz SANITIZE=$(FUZZ_SAN) \
	  CFLAGS='-O1 -g -Wno-unknown-warning-option -Wno-format-nonliteral' fuzz-bin
	@O=build/fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) sh t/fuzz/run $(FUZZ_TARGETS)

fuzz-bin: $(FUZZ_TARGETS:%=$(O)/fuzzers/%)

$(O)/fuzzers/%: t/fuzz/%.c t/fuzz/fuzz.h $(O)/libsim.a $(O)/libagent.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $< $(O)/libsim.a $(O)/libagent.a \
	  $(STORE_LIBS) $(YAML_LIBS) $(MHD_LIBS) -lm -lpthread

# The dependency step: installs what is missing (as root) or says what to run.
deps:
	@sh build-aux/deps

# The alert rules as a PrometheusRule (share/k8s), from share/alerts.
k8s: share/k8s/prometheusrule.yaml
share/k8s/prometheusrule.yaml: share/alerts/agent.rules.yml share/alerts/events.rules.yml build-aux/k8s-rules
	sh build-aux/k8s-rules share/alerts/agent.rules.yml share/alerts/events.rules.yml > $@.tmp && mv $@.tmp $@

unit: $(UNIT_BIN)

# `make check` is the README's test command: dependencies, build, then the
# whole suite on SQLite and on a throw-away PostgreSQL server.
check:
	@sh build-aux/deps
	@sh t/k8s/setup
	@$(MAKE) --no-print-directory all unit
	@O=$(O) sh t/run

demo:
	@sh build-aux/deps
	@$(MAKE) --no-print-directory all
	@O=$(O) sh build-aux/demo

bench: all
	@O=$(O) sh bench/run

# The loop under faults and kills, checked by its invariants (t/chaos):
# CHAOS_TICKS (300 on SQLite, 100 on PostgreSQL), CHAOS_SEED.
chaos: all
	@O=$(O) bash t/chaos

lint:
	sh build-aux/check-layers
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	  --suppress=missingIncludeSystem -Ilib \
	  '-Djv_object_foreach(t,k,v)=for (jv k = jv_null(), v = jv_null(); 0;)' \
	  --suppress=preprocessorErrorDirective lib cmd
	shellcheck -x build-aux/deps build-aux/embed-sql build-aux/check-layers build-aux/demo build-aux/k8s-rules t/k8s/setup t/run t/pg t/chaos t/fuzz/run bench/run bench/compare \
	  $(wildcard bench/*.sh) $(SH_CMDS:%=cmd/%)
	@if ls man/*.[0-9] >/dev/null 2>&1; then mandoc -Tlint -Wwarning man/*.[0-9]; fi

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)
	install -m 755 $(CMD_BIN) $(SH_BIN) $(DESTDIR)$(BINDIR)/
	cd share && find . -type f ! -name '*.sql' | while read -r f; do \
	  install -D -m 644 "$$f" "$(DESTDIR)$(DATADIR)/$$f"; done
	@for m in man/*.[0-9]; do [ -f "$$m" ] || continue; \
	  s=$${m##*.}; install -D -m 644 "$$m" "$(DESTDIR)$(MANDIR)/man$$s/$${m#man/}"; done
	@if [ -f completions/agent.bash ]; then \
	  install -D -m 644 completions/agent.bash $(DESTDIR)$(BASHCOMPDIR)/agent; fi
	@for u in share/systemd/*.service share/systemd/*.timer; do [ -f "$$u" ] || continue; \
	  install -d "$(DESTDIR)$(SYSTEMDDIR)"; \
	  sed 's|/usr/local/bin/|$(BINDIR)/|g' "$$u" >"$(DESTDIR)$(SYSTEMDDIR)/$${u#share/systemd/}"; \
	  chmod 644 "$(DESTDIR)$(SYSTEMDDIR)/$${u#share/systemd/}"; done
	install -D -m 644 share/systemd/agent.env.example $(DESTDIR)$(SYSCONFDIR)/agent/agent.env.example

uninstall:
	rm -f $(C_CMDS:%=$(DESTDIR)$(BINDIR)/%) $(SH_CMDS:%=$(DESTDIR)$(BINDIR)/%)
	rm -rf $(DESTDIR)$(DATADIR)
	rm -f $(DESTDIR)$(BASHCOMPDIR)/agent
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/man1/%,$(wildcard man/*.1))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/man5/%,$(wildcard man/*.5))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/man7/%,$(wildcard man/*.7))
	rm -f $(patsubst share/systemd/%,$(DESTDIR)$(SYSTEMDDIR)/%,$(wildcard share/systemd/*.service share/systemd/*.timer))
	rm -f $(DESTDIR)$(SYSCONFDIR)/agent/agent.env.example

clean:
	rm -rf build

help:
	@echo 'targets: all check demo bench chaos lint install uninstall clean deps k8s'
	@echo '         check SANITIZE=address,undefined  (sanitizer build in build/san)'
	@echo '         fuzz FUZZ_SECONDS=30  (libFuzzer harnesses of t/fuzz, clang, build/fuzz)'

-include $(shell find $(O) -name '*.d' 2>/dev/null)
