# Shell suites over the programs as a whole (they need every binary, which `make test` builds
# first through `all`): the example INI files in conf/, each started by its daemon
# (test/conf/test-conf.sh); --version of every program in $(BIN) (test/cli/test-version.sh).
TEST_PROGRAMS += test/conf/test-conf.sh test/cli/test-version.sh
