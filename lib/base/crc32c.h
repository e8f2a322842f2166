/* CRC-32C (Castagnoli, the polynomial of iSCSI, ext4 and etcd's WAL), self-contained: the
 * checksum of backup files (lib/node/snapfile.h). Table-driven, 8 bytes a step (about 1 GB/s
 * here), no hardware instruction needed. */
#ifndef BASE_CRC32C_H
#define BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of data[0..len) continuing from crc (0 to begin): crc32c(crc32c(0, a), b) is the
 * CRC of a followed by b. crc32c(0, "123456789", 9) is 0xE3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
