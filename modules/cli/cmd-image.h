/* Shared by cmd-image*.c. */
#ifndef UCRT_CMD_IMAGE_H
#define UCRT_CMD_IMAGE_H

#include "store/store.h"

/* Find an image by what the user typed: a name as stored, a short name
 * normalised like a pull would ("alpine" -> docker.io/library/alpine:latest),
 * a digest or an image id prefix. */
int cli_find_image(struct store *s, const char *what, struct store_image *out, struct err *err);
/* The same for one platform (NULL: the host's if stored, else any). */
int cli_find_image_platform(struct store *s, const char *what, const struct oci_platform *want,
			    struct store_image *out, struct err *err);

#endif
