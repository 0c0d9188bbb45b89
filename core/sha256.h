/* Streaming SHA-256 (OpenSSL EVP). */
#ifndef UCRT_SHA256_H
#define UCRT_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	void *ctx; /* EVP_MD_CTX */
};

#define SHA256_HEX_LEN 64

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Writes 64 hex chars + NUL into hex; the context is released. */
void sha256_final_hex(struct sha256 *s, char hex[SHA256_HEX_LEN + 1]);
void sha256_final(struct sha256 *s, uint8_t out[32]);
/* Release without finishing (error paths). */
void sha256_abort(struct sha256 *s);
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);

#endif
