/*
 * An example native plugin in C: a greeter that counts its visitors.
 *
 *   greet  (payload: a name)  -> "<greeting>, <name>!"  and logs it
 *   visits (payload: ignored) -> the number of calls to `visits` so far, kept in the host's
 *                                key-value store
 *
 * Build:  cc -shared -fPIC -O2 -I sdk/c -o examples/native-c/plugins/c-greeter/libgreeter.so \
 *             examples/native-c/greeter.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugboard.h"

typedef struct Greeter {
    const PlugboardHost *host;
} Greeter;

static int32_t greeter_boot(const PlugboardHost *host, PlugboardStr config, void **instance,
                            PlugboardBuf *out) {
    (void)config;
    if (host->abi_version != PLUGBOARD_ABI_VERSION) {
        /* The table's layout is unknown: nothing of it may be used, not even to write. */
        return PLUGBOARD_STATUS_ERROR;
    }
    Greeter *g = calloc(1, sizeof(Greeter));
    if (g == NULL) {
        plugboard_write_str(host, out, "out of memory");
        return PLUGBOARD_STATUS_ERROR;
    }
    g->host = host;
    host->log(host->ctx, PLUGBOARD_LOG_INFO, PLUGBOARD_STR("the C greeter booted"));
    *instance = g;
    return PLUGBOARD_STATUS_OK;
}

static int32_t visits(Greeter *g, PlugboardBuf *out) {
    const PlugboardHost *h = g->host;
    PlugboardBuf stored = {NULL, 0, 0};
    long count = 0;
    int32_t status = h->storage_get(h->ctx, PLUGBOARD_STR("visits"), &stored);
    if (status == PLUGBOARD_STATUS_OK) {
        char digits[32] = {0};
        memcpy(digits, stored.ptr, stored.len < 31 ? stored.len : 31);
        count = strtol(digits, NULL, 10);
    } else if (status != PLUGBOARD_STATUS_NOT_FOUND) {
        /* The host's message (for example: storage is not permitted) goes to the caller. */
        plugboard_write(h, out, stored.ptr, stored.len);
        h->free(h->ctx, stored);
        return status;
    }
    h->free(h->ctx, stored);
    char text[32];
    int n = snprintf(text, sizeof text, "%ld", count + 1);
    PlugboardStr value = {(const uint8_t *)text, (size_t)n};
    PlugboardBuf err = {NULL, 0, 0};
    status = h->storage_put(h->ctx, PLUGBOARD_STR("visits"), value, &err);
    if (status != PLUGBOARD_STATUS_OK) {
        plugboard_write(h, out, err.ptr, err.len);
    } else {
        status = plugboard_write(h, out, text, (size_t)n);
    }
    h->free(h->ctx, err);
    return status;
}

static int32_t greeter_call(void *instance, PlugboardStr method, PlugboardStr payload,
                            PlugboardBuf *out) {
    Greeter *g = instance;
    const PlugboardHost *h = g->host;
    if (method.len == 5 && memcmp(method.ptr, "greet", 5) == 0) {
        if (plugboard_write_str(h, out, "hello, ") != PLUGBOARD_STATUS_OK ||
            plugboard_write(h, out, payload.ptr, payload.len) != PLUGBOARD_STATUS_OK ||
            plugboard_write_str(h, out, "!") != PLUGBOARD_STATUS_OK) {
            return PLUGBOARD_STATUS_ERROR;
        }
        h->log(h->ctx, PLUGBOARD_LOG_INFO, (PlugboardStr){out->ptr, out->len});
        return PLUGBOARD_STATUS_OK;
    }
    if (method.len == 6 && memcmp(method.ptr, "visits", 6) == 0) {
        return visits(g, out);
    }
    plugboard_write_str(h, out, "greet,visits");
    return PLUGBOARD_STATUS_NOT_FOUND;
}

static void greeter_destroy(void *instance) { free(instance); }

static const PlugboardPlugin DESCRIPTOR = {
    .abi_version = PLUGBOARD_ABI_VERSION,
    .id = {(const uint8_t *)"c-greeter", 9},
    .version = {(const uint8_t *)"1.0.0", 5},
    .boot = greeter_boot,
    .start = NULL,
    .stop = NULL,
    .call = greeter_call,
    .destroy = greeter_destroy,
};

const PlugboardPlugin *plugboard_plugin(void) { return &DESCRIPTOR; }
