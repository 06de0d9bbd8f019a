# xmppd build: one binary per process role, static role libraries for the unit tests.
CC      ?= cc
MAKEFLAGS += --no-print-directory
BUILD   ?= build
WARN     = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla -Wimplicit-fallthrough -fno-common -Wno-format-zero-length
HARDEN   = -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
CFLAGS  ?= $(HARDEN)
ALLCFLAGS = $(WARN) $(CFLAGS) -I. -Icommon -Iipc -Iworkers/runtime -Iworkers/stream -MMD -MP
LDFLAGS ?= -pie -Wl,-z,relro,-z,now,-z,noexecstack
BASE_LIBS = -lssl -lcrypto -lcap -lpthread
LIBS     = -lnng -lev -lexpat -lseccomp -lidn $(BASE_LIBS)

COMMON_SRC  = $(wildcard common/*.c ipc/*.c)
RUNTIME_SRC = $(wildcard workers/runtime/*.c)
role_src    = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
obj         = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

ROLES = supervisor workers/c2s workers/http workers/router workers/storage xmppctl
LIB_common  = $(BUILD)/libcommon.a
LIB_runtime = $(BUILD)/libruntime.a
LIB_sup     = $(BUILD)/libsup.a
LIB_c2s     = $(BUILD)/libc2s.a
LIB_stream  = $(BUILD)/libstream.a
LIB_http    = $(BUILD)/libhttp.a
LIB_router  = $(BUILD)/librouter.a
LIB_storage = $(BUILD)/libstorage.a
LIB_ctl     = $(BUILD)/libctl.a
ROLE_LIBS = $(LIB_sup) $(LIB_c2s) $(LIB_http) $(LIB_stream) $(LIB_router) $(LIB_storage) $(LIB_ctl)

STORAGE_LIBS = -lpq -lhiredis $(shell pkg-config --libs libmongoc-1.0 2>/dev/null)
STORAGE_CFLAGS = $(shell pkg-config --cflags libmongoc-1.0 libpq 2>/dev/null)

BINS = $(BUILD)/xmppd $(BUILD)/xmppd-c2s $(BUILD)/xmppd-http $(BUILD)/xmppd-router \
       $(BUILD)/xmppd-storage $(BUILD)/xmppctl

# Modules: mods/mod_<name>.c → $(BUILD)/mods/mod_<name>.so, dlopened by the router at start.
MOD_SRC  = $(wildcard mods/mod_*.c)
MOD_SOS  = $(patsubst mods/%.c,$(BUILD)/mods/%.so,$(MOD_SRC))
$(BUILD)/mods/%.so: mods/%.c mods/mod.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) -fPIC -I. -Icommon -shared -Wl,-z,relro,-z,now,-z,noexecstack -o $@ $<

all: $(BINS) $(MOD_SOS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(if $(findstring workers/storage,$<),$(STORAGE_CFLAGS)) -c $< -o $@

define mklib
$(1): $(call obj,$(2))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(eval $(call mklib,$(LIB_common),$(COMMON_SRC)))
$(eval $(call mklib,$(LIB_runtime),$(RUNTIME_SRC)))
$(eval $(call mklib,$(LIB_sup),$(call role_src,supervisor)))
$(eval $(call mklib,$(LIB_c2s),$(call role_src,workers/c2s)))
$(eval $(call mklib,$(LIB_http),$(call role_src,workers/http)))
# The XMPP stream engine (negotiation, SASL, bind, stanzas, router link) that c2s (TCP) and
# http (WebSocket, BOSH) share; each links it with its own transport.
$(eval $(call mklib,$(LIB_stream),$(wildcard workers/stream/*.c)))
$(eval $(call mklib,$(LIB_router),$(call role_src,workers/router)))
$(eval $(call mklib,$(LIB_storage),$(call role_src,workers/storage)))
$(eval $(call mklib,$(LIB_ctl),$(call role_src,xmppctl)))

$(BUILD)/xmppd: $(call obj,supervisor/main.c) $(LIB_sup) $(LIB_common)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lev $(BASE_LIBS)
$(BUILD)/xmppd-c2s: $(call obj,workers/c2s/main.c) $(LIB_c2s) $(LIB_stream) $(LIB_runtime) $(LIB_common)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/xmppd-http: $(call obj,workers/http/main.c) $(LIB_http) $(LIB_stream) $(LIB_runtime) $(LIB_common)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/xmppd-router: $(call obj,workers/router/main.c) $(LIB_router) $(LIB_runtime) $(LIB_common)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) -ldl
$(BUILD)/xmppd-storage: $(call obj,workers/storage/main.c) $(LIB_storage) $(LIB_runtime) $(LIB_common)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(STORAGE_LIBS)
$(BUILD)/xmppctl: $(call obj,xmppctl/main.c) $(LIB_ctl) $(LIB_common)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(BASE_LIBS)

# Unit tests: tests/unit/test_<unit>.c, each linked against every role library.
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
$(BUILD)/tests/%: $(call obj,tests/unit/%.c) $(ROLE_LIBS) $(LIB_runtime) $(LIB_common)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(STORAGE_LIBS) -ldl -lcmocka

# Fuzz targets: tests/fuzz/fuzz_<name>.c define LLVMFuzzerTestOneInput; replay.c runs
# them over tests/fuzz/corpus/<name>/ in make check; `make fuzz` builds libFuzzer binaries.
FUZZ_SRC  = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
$(BUILD)/fuzz/%: $(call obj,tests/fuzz/%.c) $(call obj,tests/fuzz/replay.c) $(ROLE_LIBS) $(LIB_runtime) $(LIB_common)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(STORAGE_LIBS) -ldl

tests: $(UNIT_BINS) $(FUZZ_BINS) $(MOD_SOS)

PY = /usr/bin/python3
unit: tests
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; timeout 300 $$t; done
	@set -e; for f in $(FUZZ_BINS); do n=$${f##*/fuzz_}; echo "== $$f corpus $$n"; \
	  timeout 300 $$f tests/fuzz/corpus/$$n; done

integration: all
	$(PY) -m pytest -q tests/integration

# The sanitizer build lives in its own tree and runs the unit tests and fuzz replays.
asan:
	$(MAKE) BUILD=build-asan CC=clang CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -fPIE" unit

fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fPIE" tests

deps:
	@sh tools/deps.sh

# PostgreSQL and Redis for the storage tests run only for the length of the check.
# The web client (Converse.js from the npm registry, pinned and hash-checked) and the browser
# test's driver: fetched once into build/, offline afterwards; not part of `all`.
web:
	@sh tools/webclient.sh

check: deps
	$(MAKE) all tests
	$(MAKE) web
	@sh tools/services.sh start
	@trap 'sh tools/services.sh stop >/dev/null' EXIT; set -e; \
	  $(MAKE) unit; $(MAKE) asan; $(MAKE) integration

CONFIG ?= etc/xmppd.conf
run: deps all web
	@sh tools/mkcert.sh var/certs localhost
	$(BUILD)/xmppd -f $(CONFIG)

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all tests unit integration asan fuzz deps check run clean web
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
