/*
 * plugboard.h: the C ABI of Plugboard native plugins, version 1.
 *
 * A native plugin is a shared library that exports one symbol, `plugboard_plugin`, a function
 * returning a pointer to a `PlugboardPlugin` descriptor: the ABI version, the plugin's id and
 * version (which must equal its plugin.yaml's), and a table of functions. The host calls
 * `boot` with a `PlugboardHost` table: the host API (log, configuration, key-value storage,
 * events, health, calls to other plugins) as C function pointers over an opaque context.
 *
 * Only C types cross the boundary, so a plugin may be written in C, C++, Zig, or Rust (the
 * `plugboard-pdk` crate implements this header; `plugboard-native-abi` mirrors it in Rust).
 *
 * Rules
 * -----
 * Bytes.     `PlugboardStr` is borrowed: valid only during the call that receives it. Strings
 *            are UTF-8 and NOT NUL-terminated. `PlugboardBuf` is owned, and every one is
 *            allocated by the host, so that a result crosses without a copy and no buffer is
 *            freed by an allocator that did not make it:
 *            - a plugin writes its results (and error messages) into the `out` buffer the
 *              host passes, starting empty {NULL, 0, 0}: grow it with `host->reserve` (or use
 *              plugboard_write below), write bytes at `ptr + len`, raise `len`. The host keeps
 *              the buffer; the plugin never frees it.
 *            - a buffer the host writes in answer to a plugin's request (storage, config,
 *              calls) is the plugin's to read and to release with `host->free`.
 * Statuses.  Functions return a `PLUGBOARD_STATUS_*`. On anything but OK, `out` holds a UTF-8
 *            message for the operator (for NOT_FOUND from `call`: optionally the plugin's
 *            method names, comma-separated).
 * Panics.    Nothing may unwind across this boundary: catch panics and exceptions at every
 *            entry point and return PLUGBOARD_STATUS_PANIC with the message. The host then
 *            fails the call and marks the plugin unhealthy. (A crash or abort() still ends the
 *            host process: native plugins are trusted code.)
 * Threads.   `call` may run on many threads at once. `boot`, `start`, `stop` and `destroy`
 *            run one at a time, on a thread that may block. Every host function may be called
 *            from any thread, concurrently.
 * Lifetimes. The descriptor and its strings must stay valid while the library is loaded (use
 *            statics). The host never unloads a library (dlclose is unsound for libraries with
 *            thread-local destructors); a new version is loaded from a fresh copy of the file.
 *            The host table and its context stay valid for the rest of the process, so a
 *            plugin may keep them, including in threads of its own.
 * Order.     plugboard_plugin, then boot(host, config) -> instance, start, call*, stop,
 *            destroy. `boot` may write an adjusted configuration (JSON) to `out`; the host
 *            validates it again.
 * Example.   examples/native-c/greeter.c.
 * Versions.  `abi_version` is the descriptor's first field in every version of this ABI, so a
 *            host can refuse a plugin built for another version with a clear message.
 */
#ifndef PLUGBOARD_H
#define PLUGBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PLUGBOARD_ABI_VERSION 1u

/* The symbol every plugin exports. */
#define PLUGBOARD_ENTRY_SYMBOL "plugboard_plugin"

#define PLUGBOARD_STATUS_OK 0        /* success; `out` holds the result, maybe empty */
#define PLUGBOARD_STATUS_ERROR 1     /* failure; `out` holds the message */
#define PLUGBOARD_STATUS_NOT_FOUND 2 /* no such storage key / method */
#define PLUGBOARD_STATUS_PANIC 3     /* the callee panicked or threw, and caught it */
#define PLUGBOARD_STATUS_DENIED 4    /* not permitted; `out` says why and what to do */

#define PLUGBOARD_LOG_TRACE 0
#define PLUGBOARD_LOG_DEBUG 1
#define PLUGBOARD_LOG_INFO 2
#define PLUGBOARD_LOG_WARNING 3
#define PLUGBOARD_LOG_ERROR 4

#define PLUGBOARD_HEALTHY 0
#define PLUGBOARD_DEGRADED 1
#define PLUGBOARD_UNHEALTHY 2

/* Borrowed bytes. */
typedef struct PlugboardStr {
    const uint8_t *ptr;
    size_t len;
} PlugboardStr;

/* Owned bytes; see "Bytes" above. */
typedef struct PlugboardBuf {
    uint8_t *ptr;
    size_t len;
    size_t cap;
} PlugboardBuf;

/* A PlugboardStr for a string literal. */
#define PLUGBOARD_STR(literal) \
    ((PlugboardStr){(const uint8_t *)(literal), sizeof(literal) - 1})

/* What the host offers. Every function takes `ctx` first. */
typedef struct PlugboardHost {
    uint32_t abi_version;
    void *ctx;
    /* Writes `message` to the plugin's log at `level` (PLUGBOARD_LOG_*). */
    void (*log)(void *ctx, int32_t level, PlugboardStr message);
    /* Writes the plugin's effective configuration (JSON) to `out`. */
    int32_t (*config)(void *ctx, PlugboardBuf *out);
    /* OK with the value in `out`, NOT_FOUND, DENIED (no `permissions: {storage: true}`), ERROR. */
    int32_t (*storage_get)(void *ctx, PlugboardStr key, PlugboardBuf *out);
    int32_t (*storage_put)(void *ctx, PlugboardStr key, PlugboardStr value, PlugboardBuf *out);
    /* OK when the key existed, NOT_FOUND when it did not. */
    int32_t (*storage_delete)(void *ctx, PlugboardStr key, PlugboardBuf *out);
    /* Publishes an event; topics under `plugin.` are reserved for the host. */
    int32_t (*publish)(void *ctx, PlugboardStr topic, PlugboardStr payload, PlugboardBuf *out);
    /* Reports health (PLUGBOARD_HEALTHY, _DEGRADED, _UNHEALTHY) with a message. */
    void (*report_health)(void *ctx, int32_t health, PlugboardStr message);
    /* Calls `method` on plugin `target`, declared in plugin.yaml's `requires` or `optional`. */
    int32_t (*call)(void *ctx, PlugboardStr target, PlugboardStr method, PlugboardStr payload,
                    PlugboardBuf *out);
    /* Releases a buffer the host wrote in answer to a request. */
    void (*free)(void *ctx, PlugboardBuf buf);
    /* Grows `buf` (an `out` buffer) so that `additional` more bytes fit after `len`; `ptr` and
     * `cap` may change. OK, or ERROR when memory is exhausted. */
    int32_t (*reserve)(void *ctx, PlugboardBuf *buf, size_t additional);
} PlugboardHost;

/* Appends `len` bytes to the host's `out` buffer. */
static inline int32_t plugboard_write(const PlugboardHost *host, PlugboardBuf *out,
                                      const void *bytes, size_t len) {
    if (len == 0) {
        return PLUGBOARD_STATUS_OK;
    }
    if (out->cap - out->len < len && host->reserve(host->ctx, out, len) != PLUGBOARD_STATUS_OK) {
        return PLUGBOARD_STATUS_ERROR;
    }
    memcpy(out->ptr + out->len, bytes, len);
    out->len += len;
    return PLUGBOARD_STATUS_OK;
}

/* Appends a NUL-terminated string to the host's `out` buffer. */
static inline int32_t plugboard_write_str(const PlugboardHost *host, PlugboardBuf *out,
                                          const char *text) {
    return plugboard_write(host, out, text, strlen(text));
}

/* What a plugin describes itself with. `boot` and `call` are required; the others may be
 * NULL. A plugin keeps the host table `boot` receives to write its results. */
typedef struct PlugboardPlugin {
    uint32_t abi_version; /* PLUGBOARD_ABI_VERSION; always first */
    PlugboardStr id;      /* equal to plugin.yaml's `id` */
    PlugboardStr version; /* equal to plugin.yaml's `version` */
    int32_t (*boot)(const PlugboardHost *host, PlugboardStr config_json, void **instance,
                    PlugboardBuf *out);
    int32_t (*start)(void *instance, PlugboardBuf *out);
    int32_t (*stop)(void *instance, PlugboardBuf *out);
    /* `method` is always valid UTF-8. */
    int32_t (*call)(void *instance, PlugboardStr method, PlugboardStr payload,
                    PlugboardBuf *out);
    void (*destroy)(void *instance);
} PlugboardPlugin;

/* The one symbol a plugin exports. */
const PlugboardPlugin *plugboard_plugin(void);

#ifdef __cplusplus
}
#endif

#endif /* PLUGBOARD_H */
