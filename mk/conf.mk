# conf/: the example INI files, each started by its daemon (test/conf/test-conf.sh; needs kvd
# and raftd, which `make test` builds first through `all`).
TEST_PROGRAMS += test/conf/test-conf.sh
