/* A snapshot written by a forked child (Redis's BGSAVE): the child sees the parent's memory as
 * it was at fork(), copy-on-write, so the parent goes on applying entries and saving readies
 * while the child encodes the state and writes it as chunks of a new generation, through an
 * LMDB environment of its own on the same files (LMDB serializes the two processes' write
 * transactions; the child's are small, so the parent's wait is short). The parent adopts the
 * chunks in one transaction once the child exits 0 (storage.c, storage_compact_poll).
 *
 * The child closes every inherited descriptor but 0-2 at once (a connection the parent closes
 * must not stay open in the child; the directory's flock must not outlive the parent) and dies
 * with the parent (PR_SET_PDEATHSIG). Its exit status is the result. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "storage/internal.h"

/* Each child transaction: one chunk, one fsync; the node's saves wait for at most one (with
 * 4 MiB batches the other shards' p99 during a 256 MiB move was 72 ms, with 1 MiB 33-35 ms, at
 * the same move rate). */
#define CHILD_TXN_BYTES SNAP_CHUNK

enum child_exit { EXIT_WRITTEN = 0, EXIT_NO_SPACE = 3, EXIT_FAILED = 4 };

static bool no_space(int rc) { return rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT; }

/* The child: writes and exits; never returns. */
static void child_write(struct storage *s, pid_t parent, store_write_fn write, void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(EXIT_FAILED);
    if (close_range(3, ~0u, 0) != 0) { /* a kernel or seccomp profile without it */
        struct rlimit rl;
        int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1u << 20) ? (int)rl.rlim_cur
                                                                                : 1 << 20;
        for (int fd = 3; fd < max; fd++)
            close(fd);
    }
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, 4);
    if (rc == 0)
        rc = mdb_env_set_mapsize(env, s->map_size);
    if (rc == 0)
        rc = mdb_env_open(env, s->dir, MDB_NOTLS | (s->sync ? 0 : MDB_NOSYNC), 0644);
    if (rc == 0 && (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) == MDB_MAP_RESIZED)
        rc = mdb_env_set_mapsize(env, 0) ?: mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "snapshot", 0, &dbi);
        if (rc == 0)
            rc = mdb_txn_commit(txn); /* keeps dbi open in env */
        else
            mdb_txn_abort(txn);
    }
    if (rc == 0) {
        struct snap_writer w;
        snap_writer_init(&w, env, NULL, dbi, s->bg.gen, s->bg.len, CHILD_TXN_BYTES,
                         s->background_write_rate);
        write(arg, &w.sink, s->bg.len);
        rc = snap_writer_end(&w);
    }
    if (rc != 0)
        dprintf(2, "storage: %s: the background snapshot writer failed: %s\n", s->dir,
                rc == EOVERFLOW ? "the state machine wrote other than the size it announced"
                                : mdb_strerror(rc));
    /* No mdb_env_close: it would only unmap; _exit skips the parent's atexit handlers. */
    _exit(rc == 0 ? EXIT_WRITTEN : no_space(rc) ? EXIT_NO_SPACE : EXIT_FAILED);
}

int bg_start(struct storage *s, store_write_fn write, void *arg, char *err, size_t errlen)
{
    pid_t parent = getpid();
    fflush(NULL); /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid < 0)
        return errorf(err, errlen, "%s: cannot fork the snapshot writer: %s", s->dir,
                      strerror(errno));
    if (pid == 0)
        child_write(s, parent, write, arg);
    s->bg.pid = pid;
    return 0;
}

int bg_poll(struct storage *s, char *err, size_t errlen)
{
    int status;
    pid_t r = waitpid(s->bg.pid, &status, WNOHANG);
    if (r == 0)
        return STORAGE_PENDING;
    pid_t pid = s->bg.pid;
    s->bg.pid = 0;
    int stale;
    mdb_reader_check(s->env, &stale); /* a reader slot of a child killed while reading */
    if (r < 0) {
        errorf(err, errlen, "%s: the snapshot writer (pid %d) is lost: %s", s->dir,
               (int)pid, strerror(errno));
        return STORAGE_BG_FAILED;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_WRITTEN)
        return STORAGE_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_NO_SPACE) {
        errorf(err, errlen, "%s: no space for the snapshot", s->dir);
        return STORAGE_NO_SPACE;
    }
    if (WIFSIGNALED(status))
        errorf(err, errlen, "%s: the snapshot writer (pid %d) was killed by signal %d",
               s->dir, (int)pid, WTERMSIG(status));
    else
        errorf(err, errlen, "%s: the snapshot writer (pid %d) failed (exit %d)", s->dir,
               (int)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return STORAGE_BG_FAILED;
}

void bg_kill(struct storage *s)
{
    if (!s->bg.pid)
        return;
    kill(s->bg.pid, SIGKILL);
    while (waitpid(s->bg.pid, NULL, 0) < 0 && errno == EINTR)
        ;
    s->bg.pid = 0;
}
