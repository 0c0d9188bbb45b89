/* Test helper for the ext4 unit tests: one ustar header block built by
 * hand, so the tests feed the writer archives no library produced. */
#ifndef UCRT_T_USTAR_H
#define UCRT_T_USTAR_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline void ustar_hdr(uint8_t *h, const char *name, char type, size_t size, unsigned mode)
{
	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", mode);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011zo", size);
	snprintf((char *)h + 136, 12, "%011o", 1700000000);
	h[156] = (uint8_t)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

#endif
