# Backup and restore (docs/BACKUP.md): kvcli snapshot save under a write load, restore into a
# new 3-node cluster, every key checked (test/backup/test-backup.sh, with its load and check
# tool test/backup/backuptool.c, built beside the test binaries, not into bin/).
BACKUPTOOL := $(OUT)/test/backuptool
$(BACKUPTOOL): $(call obj,test/backup/backuptool.c) $(call lib_a,clerk) $(call lib_a,kv) \
		$(call lib_a,shardctrl) $(call lib_a,session) $(LINK_NODE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
PROGRAMS += $(BACKUPTOOL)
ALL_OBJS += $(call obj,test/backup/backuptool.c)
TEST_PROGRAMS += test/backup/test-backup.sh

# test/unit/test_backup_file.c links lib/node (snapfile, restore), lib/storage and lib/raft: its
# own rule (see mk/raft.mk's note on test_storage's).
$(OUT)/test/test_backup_file: $(call obj,test/unit/test_backup_file.c) $(UNIT_MAIN) $(TEST_SUPPORT) \
		$(filter-out $(call lib_a,base),$(LINK_NODE)) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)
