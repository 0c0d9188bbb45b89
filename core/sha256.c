/* Streaming SHA-256 on OpenSSL's EVP interface. */
#include "sha256.h"
#include "str.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

void sha256_init(struct sha256 *s)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "ucrt: OpenSSL cannot provide SHA-256\n");
		abort();
	}
	s->ctx = c;
}

void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(s->ctx, data, len);
}

void sha256_final(struct sha256 *s, uint8_t out[32])
{
	unsigned n = 32;
	EVP_DigestFinal_ex(s->ctx, out, &n);
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

void sha256_final_hex(struct sha256 *s, char hex[SHA256_HEX_LEN + 1])
{
	uint8_t md[32];
	sha256_final(s, md);
	hex_encode(md, 32, hex);
}

void sha256_abort(struct sha256 *s)
{
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
	struct sha256 s;
	sha256_init(&s);
	sha256_update(&s, data, len);
	sha256_final_hex(&s, hex);
}
