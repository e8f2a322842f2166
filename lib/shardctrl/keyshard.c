#include "shardctrl/keyshard.h"

#include <string.h>

uint16_t sc_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)data[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)(crc << 1) ^ 0x1021 : (uint16_t)(crc << 1);
    }
    return crc;
}

void sc_hash_part(const uint8_t *key, size_t klen, const uint8_t **part, size_t *plen)
{
    *part = key;
    *plen = klen;
    const uint8_t *open = klen ? memchr(key, '{', klen) : NULL;
    if (!open)
        return;
    size_t from = (size_t)(open - key) + 1;
    const uint8_t *close = from < klen ? memchr(key + from, '}', klen - from) : NULL;
    if (!close || close == key + from) /* no '}', or "{}": the whole key */
        return;
    *part = key + from;
    *plen = (size_t)(close - (key + from));
}

uint32_t sc_key_shard(const uint8_t *key, size_t klen, uint32_t n_shards)
{
    const uint8_t *part;
    size_t plen;
    sc_hash_part(key, klen, &part, &plen);
    return n_shards ? sc_crc16(part, plen) % n_shards : 0;
}
