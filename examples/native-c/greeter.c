/*
 * An example native plugin in C: a greeter that counts its visitors.
 *
 *   greet  (payload: a name)  -> "<greeting>, <name>!"  and logs it
 *   visits (payload: ignored) -> the number of calls to `visits` so far, kept in the host's
 *                                key-value store
 *
 * Build:  cc -shared -fPIC -O2 -I sdk/c -o examples/native-c/plugin/libgreeter.so \
 *             examples/native-c/greeter.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugboard.h"

typedef struct Greeter {
    const PlugboardHost *host;
} Greeter;

/* Hands `len` bytes of `text` to the host; released by greeter_free. */
static void give(PlugboardBuf *out, const char *text, size_t len) {
    out->ptr = malloc(len ? len : 1);
    if (out->ptr == NULL) {
        out->len = 0;
        return;
    }
    memcpy(out->ptr, text, len);
    out->len = len;
    out->cap = len;
}

static void give_str(PlugboardBuf *out, const char *text) { give(out, text, strlen(text)); }

static int32_t greeter_boot(const PlugboardHost *host, PlugboardStr config, void **instance,
                            PlugboardBuf *out) {
    (void)config;
    if (host->abi_version != PLUGBOARD_ABI_VERSION) {
        give_str(out, "this plugin speaks ABI version 1");
        return PLUGBOARD_STATUS_ERROR;
    }
    Greeter *g = calloc(1, sizeof(Greeter));
    if (g == NULL) {
        give_str(out, "out of memory");
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
        give(out, (const char *)stored.ptr, stored.len);
        h->free(h->ctx, stored);
        return status;
    }
    h->free(h->ctx, stored);
    char text[32];
    int n = snprintf(text, sizeof text, "%ld", count + 1);
    PlugboardBuf err = {NULL, 0, 0};
    PlugboardStr value = {(const uint8_t *)text, (size_t)n};
    status = h->storage_put(h->ctx, PLUGBOARD_STR("visits"), value, &err);
    h->free(h->ctx, err);
    give(out, text, (size_t)n);
    return status;
}

static int32_t greeter_call(void *instance, PlugboardStr method, PlugboardStr payload,
                            PlugboardBuf *out) {
    Greeter *g = instance;
    if (method.len == 5 && memcmp(method.ptr, "greet", 5) == 0) {
        size_t len = payload.len + 9;
        char *text = malloc(len);
        if (text == NULL) {
            give_str(out, "out of memory");
            return PLUGBOARD_STATUS_ERROR;
        }
        memcpy(text, "hello, ", 7);
        memcpy(text + 7, payload.ptr, payload.len);
        memcpy(text + 7 + payload.len, "!", 1);
        len = payload.len + 8;
        g->host->log(g->host->ctx, PLUGBOARD_LOG_INFO, (PlugboardStr){(uint8_t *)text, len});
        out->ptr = (uint8_t *)text;
        out->len = len;
        out->cap = len;
        return PLUGBOARD_STATUS_OK;
    }
    if (method.len == 6 && memcmp(method.ptr, "visits", 6) == 0) {
        return visits(g, out);
    }
    give_str(out, "greet,visits");
    return PLUGBOARD_STATUS_NOT_FOUND;
}

static void greeter_free(PlugboardBuf buf) { free(buf.ptr); }

static void greeter_destroy(void *instance) { free(instance); }

static const PlugboardPlugin DESCRIPTOR = {
    .abi_version = PLUGBOARD_ABI_VERSION,
    .id = {(const uint8_t *)"c-greeter", 9},
    .version = {(const uint8_t *)"1.0.0", 5},
    .boot = greeter_boot,
    .start = NULL,
    .stop = NULL,
    .call = greeter_call,
    .free = greeter_free,
    .destroy = greeter_destroy,
};

const PlugboardPlugin *plugboard_plugin(void) { return &DESCRIPTOR; }
