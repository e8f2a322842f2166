/* libFuzzer target: frame decoding and envelope parsing, the code that reads untrusted bytes.
 * The input is delivered to an input buffer in pieces whose sizes come from the input itself,
 * every whole frame is decoded, and every valid envelope must survive a re-encode round trip. */
#include <assert.h>
#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rpc/internal.h"

#define FUZZ_MAX_FRAME (1u << 16)

static void check_round_trip(const Rpc__Envelope *env)
{
    struct evbuffer *b = evbuffer_new();
    int rc = rpc_write_envelope(b, env, FUZZ_MAX_FRAME * 2);
    assert(rc == 0);
    Rpc__Envelope *again;
    enum rpc_read_result r = rpc_read_envelope(b, FUZZ_MAX_FRAME * 2, &again);
    assert(r == RPC_READ_OK);
    assert(again->kind == env->kind && again->call_id == env->call_id);
    assert(strcmp(again->method, env->method) == 0 && strcmp(again->error, env->error) == 0);
    assert(again->payload.len == env->payload.len);
    assert(env->payload.len == 0 ||
           memcmp(again->payload.data, env->payload.data, env->payload.len) == 0);
    rpc__envelope__free_unpacked(again, NULL);
    evbuffer_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The pure parser agrees with the buffer reader about the first frame. */
    const uint8_t *body;
    size_t blen;
    enum rpc_frame_result fr = rpc_frame_parse(data, size, FUZZ_MAX_FRAME, &body, &blen);
    if (fr == RPC_FRAME_OK)
        assert(body == data + 4 && blen <= size - 4 && blen <= FUZZ_MAX_FRAME);

    struct evbuffer *in = evbuffer_new();
    size_t pos = 0;
    unsigned step = size ? data[0] % 17 + 1 : 1;
    while (pos < size) {
        size_t n = size - pos < step ? size - pos : step;
        evbuffer_add(in, data + pos, n);
        pos += n;
        for (;;) {
            Rpc__Envelope *env;
            enum rpc_read_result r = rpc_read_envelope(in, FUZZ_MAX_FRAME, &env);
            if (r == RPC_READ_OK) {
                check_round_trip(env);
                rpc__envelope__free_unpacked(env, NULL);
                continue;
            }
            if (r == RPC_READ_NEED_MORE)
                break;
            /* TOO_LARGE or BAD: a server closes the connection here. */
            evbuffer_free(in);
            return 0;
        }
    }
    evbuffer_free(in);
    return 0;
}
