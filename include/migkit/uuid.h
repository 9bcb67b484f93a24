/*
 * uuid.h - UUIDs for simulated GPUs and MIG devices.
 */
#ifndef MIGKIT_UUID_H
#define MIGKIT_UUID_H

#include "migkit/common.h"

/* Writes prefix + a random RFC 4122 version-4 UUID ("MIG-1b2c...-4...-8...") into buf (at
 * least strlen(prefix) + 37 bytes). Returns 0, or -errno when no randomness is available. */
int mk_uuid_generate(const char *prefix, char *buf, size_t len);

/* True when s is prefix followed by a well-formed 8-4-4-4-12 lowercase-hex UUID. */
bool mk_uuid_valid(const char *prefix, const char *s);

#endif /* MIGKIT_UUID_H */
