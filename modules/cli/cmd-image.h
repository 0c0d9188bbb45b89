/* Shared by cmd-image*.c. */
#ifndef UCRT_CMD_IMAGE_H
#define UCRT_CMD_IMAGE_H

#include "store/store.h"

/* Find an image by what the user typed: a name as stored, a short name
 * normalised like a pull would ("alpine" -> docker.io/library/alpine:latest),
 * a digest or an image id prefix. */
int cli_find_image(struct store *s, const char *what, struct store_image *out, struct err *err);

#endif
