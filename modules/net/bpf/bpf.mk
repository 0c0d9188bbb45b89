# Per-VM eBPF filters: modules/net/bpf/<name>.bpf.c -> $(B)/gen/net/<name>.skel.h
# (clang -target bpf, then `bpftool gen skeleton`). Included by the top
# Makefile, which also adds -I$(B)/gen so modules/net/*.c can
# `#include "net/<name>.skel.h"`. Needs B and SRCDIR.

# Nothing here may become make's default goal (the first explicit target):
# remember it and put it back at the end, so a plain `make` still means all.
NET_BPF_SAVED_GOAL := $(.DEFAULT_GOAL)

BPF_CLANG ?= clang
BPFTOOL ?= bpftool
# -target bpf does not search the multiarch directory that holds <asm/types.h>.
# (Debian's multiarch triplet: gcc -dumpmachine; clang would say x86_64-pc-linux-gnu.)
BPF_ARCH_INC := /usr/include/$(shell gcc -print-multiarch 2>/dev/null || uname -m | sed 's/$$/-linux-gnu/')
BPF_CFLAGS := -O2 -g -target bpf -Wall -Werror -I$(BPF_ARCH_INC) -I$(SRCDIR)/modules/net/bpf

NET_BPF_SRC := $(wildcard $(SRCDIR)/modules/net/bpf/*.bpf.c)
NET_BPF_SKEL := $(patsubst $(SRCDIR)/modules/net/bpf/%.bpf.c,$(B)/gen/net/%.skel.h,$(NET_BPF_SRC))

$(B)/gen/net/%.bpf.o: $(SRCDIR)/modules/net/bpf/%.bpf.c $(wildcard $(SRCDIR)/modules/net/bpf/*.h)
	@mkdir -p $(@D)
	$(BPF_CLANG) $(BPF_CFLAGS) -c -o $@ $<

# Skeleton struct names: net_<name> (net_filter for filter.bpf.c).
$(B)/gen/net/%.skel.h: $(B)/gen/net/%.bpf.o
	$(BPFTOOL) gen skeleton $< name net_$(subst -,_,$*) > $@.tmp && mv $@.tmp $@

# The net module's objects include the skeletons: build those first.
$(filter $(B)/obj/modules/net/%,$(MOD_OBJ)): $(NET_BPF_SKEL)

.SECONDARY: $(patsubst %.skel.h,%.bpf.o,$(NET_BPF_SKEL))

.DEFAULT_GOAL := $(NET_BPF_SAVED_GOAL)
