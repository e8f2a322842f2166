#include "worker.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"
#include "mr.pb-c.h"
#include "rpc/rpc.h"

/* A GetTask may wait this long at the coordinator for a task to become free; every call may
 * take CALL_SLACK_MS more before the worker calls the coordinator unreachable. */
#define MAX_WAIT_MS 1000
#define CALL_SLACK_MS 2000
#define RETRY_FIRST_MS 10  /* pause before the first retry; it doubles up to RETRY_MAX_MS */
#define RETRY_MAX_MS 200

struct worker {
    const struct mr_app *app;
    const struct worker_config *cfg;
    struct rpc_sync *rpc;
    uint64_t last_answer_ms; /* when the coordinator last answered (or when we started) */
};

/* One call; retried until the coordinator answers or give_up_ms pass since its last answer.
 * Returns the reply (caller frees) or NULL when giving up. */
static uint8_t *call(struct worker *w, const char *method, const ProtobufCMessage *req,
                     uint64_t timeout_ms, size_t *len)
{
    size_t req_len = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(req_len ? req_len : 1);
    protobuf_c_message_pack(req, buf);
    uint8_t *reply = NULL;
    uint64_t pause = RETRY_FIRST_MS;
    for (;;) {
        char *error = NULL;
        enum rpc_status st = rpc_sync_call(w->rpc, method, buf, req_len, timeout_ms, &reply, len,
                                           &error);
        uint64_t now = clock_mono_ms();
        if (st == RPC_OK) {
            w->last_answer_ms = now;
            break;
        }
        LOG_DEBUG("worker", "%s: %s %s", method, rpc_status_name(st), error ? error : "");
        if (now - w->last_answer_ms >= w->cfg->give_up_ms) {
            /* The last error says whether the coordinator is gone or refuses us (TLS). */
            LOG_INFO("worker", "no answer from the coordinator at %s for %.1f s (last: %s%s%s); "
                     "assuming the job is over", w->cfg->coordinator,
                     (double)(now - w->last_answer_ms) / 1000.0, rpc_status_name(st),
                     error && error[0] ? ", " : "", error ? error : "");
            free(error);
            reply = NULL;
            break;
        }
        free(error);
        clock_sleep_ms(pause);
        pause = MIN(pause * 2, (uint64_t)RETRY_MAX_MS);
    }
    free(buf);
    return reply;
}

/* Runs the task; on failure writes why into err. A task that makes no sense is refused rather
 * than trusted (it comes from the network). */
static bool run_task(struct worker *w, const Mr__Task *t, char *err, size_t errlen)
{
    if (t->nmap == 0 || t->nreduce == 0 || !t->workdir[0] ||
        (t->kind == MR__TASK_KIND__MAP && (t->id >= t->nmap || !t->input[0])) ||
        (t->kind == MR__TASK_KIND__REDUCE && t->id >= t->nreduce)) {
        snprintf(err, errlen, "malformed task (kind %d id %u nmap %u nreduce %u)", (int)t->kind,
                 t->id, t->nmap, t->nreduce);
        return false;
    }
    if (t->kind == MR__TASK_KIND__MAP)
        return mr_task_map(w->app, t->input, t->id, t->nreduce, t->workdir, err, errlen) == MR_OK;
    if (t->kind == MR__TASK_KIND__REDUCE)
        return mr_task_reduce(w->app, t->id, t->nmap, t->workdir, err, errlen) == MR_OK;
    snprintf(err, errlen, "unknown task kind %d", (int)t->kind);
    return false;
}

/* Runs t and reports it. Returns false when the worker should exit (job done or coordinator
 * gone). */
static bool do_task(struct worker *w, const Mr__Task *t)
{
    const char *kind = t->kind == MR__TASK_KIND__MAP ? "map" : "reduce";
    char err[1024] = "";
    uint64_t start = clock_mono_ms();
    bool ok = run_task(w, t, err, sizeof err);
    uint64_t elapsed = clock_mono_ms() - start;
    if (ok)
        LOG_INFO("worker", "%s %u%s%s done in %llu ms", kind, t->id, t->input[0] ? " " : "",
                 t->input, (unsigned long long)elapsed);
    else
        LOG_WARN("worker", "%s %u failed: %s", kind, t->id, err);

    Mr__FinishTaskRequest req = MR__FINISH_TASK_REQUEST__INIT;
    req.worker = (char *)w->cfg->name;
    req.job = t->job;
    req.kind = t->kind;
    req.id = t->id;
    req.attempt = t->attempt;
    req.ok = ok;
    req.error = err;
    req.elapsed_ms = elapsed;
    size_t len;
    uint8_t *reply = call(w, "mr.FinishTask", &req.base, CALL_SLACK_MS, &len);
    if (!reply)
        return false;
    Mr__FinishTaskReply *r = mr__finish_task_reply__unpack(NULL, len, reply);
    free(reply);
    bool done = r && r->job_done;
    if (!r)
        LOG_WARN("worker", "mr.FinishTask: reply does not decode");
    mr__finish_task_reply__free_unpacked(r, NULL);
    if (done)
        LOG_INFO("worker", "the job is done; exiting");
    return !done;
}

int worker_run(const struct mr_app *app, const struct worker_config *cfg)
{
    char err[256];
    struct worker w = { app, cfg, NULL, clock_mono_ms() };
    w.rpc = rpc_sync_new(cfg->coordinator, err, sizeof err);
    if (!w.rpc) {
        fprintf(stderr, "mrworker: %s\n", err);
        return 2;
    }
    Mr__GetTaskRequest req = MR__GET_TASK_REQUEST__INIT;
    req.worker = (char *)cfg->name;
    req.max_wait_ms = MAX_WAIT_MS;
    bool more = true;
    while (more) {
        size_t len;
        uint8_t *reply = call(&w, "mr.GetTask", &req.base, MAX_WAIT_MS + CALL_SLACK_MS, &len);
        if (!reply)
            break;
        Mr__GetTaskReply *r = mr__get_task_reply__unpack(NULL, len, reply);
        free(reply);
        if (!r) {
            LOG_WARN("worker", "mr.GetTask: reply does not decode");
            clock_sleep_ms(RETRY_MAX_MS);
            continue;
        }
        if (r->action == MR__ACTION__EXIT) {
            LOG_INFO("worker", "the job is done; exiting");
            more = false;
        } else if (r->action == MR__ACTION__RUN && r->task) {
            more = do_task(&w, r->task);
        } else if (r->action != MR__ACTION__WAIT) {
            LOG_WARN("worker", "mr.GetTask: unexpected action %d; asking again", (int)r->action);
            clock_sleep_ms(RETRY_MAX_MS);
        }
        mr__get_task_reply__free_unpacked(r, NULL);
    }
    rpc_sync_free(w.rpc);
    return 0;
}
