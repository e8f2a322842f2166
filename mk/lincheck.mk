# test/lincheck: the linearizability checker for key/value histories (docs/LINCHECK.md).
#   $(OUT)/lib/liblincheck.a   the library (test/lincheck/*.c but the mains); needs libbase after it
#   $(BIN)/lincheck            lincheck [--timeout D] FILE: exit 0 / 1 not linearizable / 3 unknown
#   $(OUT)/test/lincheck-gen   writes a generated linearizable history (CLI tests, timing)
# A test binary links it with $(LINK_LINCHECK) placed before the libraries that bring libbase,
# e.g. $(LINK_LINCHECK) $(LINK_ECHO); headers: #include "../lincheck/lincheck.h" from test/*/.
LINCHECK_MAINS := test/lincheck/main.c test/lincheck/gen_main.c
LINCHECK_SRCS := $(filter-out $(LINCHECK_MAINS),$(wildcard test/lincheck/*.c))
LINCHECK_OBJS := $(call obj,$(LINCHECK_SRCS))
ALL_OBJS += $(LINCHECK_OBJS) $(call obj,$(LINCHECK_MAINS))

$(LINK_LINCHECK): $(LINCHECK_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(eval $(call PROGRAM,lincheck,test/lincheck/main.c,$(LINK_LINCHECK) $(call lib_a,base)))

LINCHECK_GEN := $(OUT)/test/lincheck-gen
$(LINCHECK_GEN): $(call obj,test/lincheck/gen_main.c) $(LINK_LINCHECK) $(call lib_a,base)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
PROGRAMS += $(LINCHECK_GEN)

# The unit tests link the library (their own rule replaces the generic one, as in mk/raft.mk):
# test_lincheck (get/put/append), test_lincheck_delcas (delete and cas in the model), with the
# helpers they share (test/unit/lincheck_testlib.c: the brute force, the rules' cross-check).
LINCHECK_TESTLIB := $(call obj,test/unit/lincheck_testlib.c)
ALL_OBJS += $(LINCHECK_TESTLIB)
$(OUT)/test/test_lincheck $(OUT)/test/test_lincheck_delcas: $(OUT)/test/%: $(OUT)/obj/test/unit/%.o \
		$(LINCHECK_TESTLIB) $(UNIT_MAIN) $(TEST_SUPPORT) $(LINK_LINCHECK) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)

# bin/lincheck's exit statuses and messages (needs $(BIN)/lincheck and lincheck-gen, built by all).
TEST_PROGRAMS += test/lincheck/test-lincheck-cli.sh
