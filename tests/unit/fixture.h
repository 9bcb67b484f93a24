/*
 * fixture.h - what the unit tests share: the built-in catalog, loaded once per test group,
 * and model lookup that fails the test when a slug is missing. Include after <cmocka.h>.
 */
#ifndef MIGKIT_TEST_FIXTURE_H
#define MIGKIT_TEST_FIXTURE_H

#include <stdio.h>

#include "migkit/catalog.h"

/* One catalog per test executable (each is one translation unit). */
static struct mk_catalog *cat;

static inline int setup_catalog(void **state)
{
    struct mk_error err = {0};
    (void)state;
    if (mk_catalog_new(&cat, &err) < 0) {
        fprintf(stderr, "mk_catalog_new: %s\n", mk_strerror(&err));
        return -1;
    }
    return 0;
}

static inline int teardown_catalog(void **state)
{
    (void)state;
    mk_catalog_free(cat);
    cat = NULL;
    return 0;
}

static inline const struct mk_model *model(const char *slug)
{
    const struct mk_model *m = mk_catalog_find(cat, slug);
    if (!m)
        fail_msg("model %s is not in the catalog", slug);
    return m;
}

#endif
