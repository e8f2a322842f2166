/* Which shard a key belongs to: CRC16 of the key (CRC-16/XMODEM: polynomial 0x1021, initial
 * value 0, no reflection; Redis Cluster's hash) modulo the controller's shard count, with
 * Redis-style hash tags: when the key holds a '{' followed later by a '}' with at least one byte
 * between them, only the bytes between the first '{' and the first '}' after it are hashed, so
 * "user:{42}:name" and "user:{42}:mail" share a shard. "{}" (nothing between) hashes the whole
 * key. Clerks and servers use this one function (it is the controller's: a config's shards are
 * these). */
#ifndef SHARDCTRL_KEYSHARD_H
#define SHARDCTRL_KEYSHARD_H

#include <stddef.h>
#include <stdint.h>

/* CRC-16/XMODEM of data ("123456789" -> 0x31C3). */
uint16_t sc_crc16(const uint8_t *data, size_t len);

/* The bytes of key that are hashed: the hash tag, or the whole key. */
void sc_hash_part(const uint8_t *key, size_t klen, const uint8_t **part, size_t *plen);

/* The shard of key among n_shards (>= 1). */
uint32_t sc_key_shard(const uint8_t *key, size_t klen, uint32_t n_shards);

#endif
