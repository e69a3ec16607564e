/*
 * A configurable native plugin in C for plugboard-native's tests. Compile-time flags:
 *   -DPB_ID='"variant"' -DPB_VERSION='"1.0.0"'   what the descriptor says
 *   -DPB_ABI=99                                    a wrong ABI version
 *   -DPB_NO_EXPORT                                 no `plugboard_plugin` symbol
 *   -DPB_NEEDS_DEP                                 link against libpbdep.so (pbdep_value)
 * Methods: `version` returns PB_VERSION, `echo` returns its payload, `pid` the process id
 * (decimal), and `segfault`, `abort` and `exit` end the process the way their names say (for
 * `isolation: process`); anything else is NOT_FOUND.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugboard.h"

#ifndef PB_ID
#define PB_ID "variant"
#endif
#ifndef PB_VERSION
#define PB_VERSION "1.0.0"
#endif
#ifndef PB_ABI
#define PB_ABI PLUGBOARD_ABI_VERSION
#endif

#ifdef PB_NEEDS_DEP
extern int pbdep_value(void);
#endif

/* The plugin has no state of its own beyond the host table. */
static const PlugboardHost *HOST;

static int32_t v_boot(const PlugboardHost *host, PlugboardStr config, void **instance,
                      PlugboardBuf *out) {
    (void)config;
    (void)out;
    host->log(host->ctx, PLUGBOARD_LOG_INFO, PLUGBOARD_STR("variant " PB_VERSION " booted"));
    HOST = host;
    *instance = NULL; /* all state is static */
    return PLUGBOARD_STATUS_OK;
}

static int32_t v_call(void *instance, PlugboardStr method, PlugboardStr payload,
                      PlugboardBuf *out) {
    (void)instance;
    if (method.len == 7 && memcmp(method.ptr, "version", 7) == 0) {
        return plugboard_write_str(HOST, out, PB_VERSION);
    }
    if (method.len == 4 && memcmp(method.ptr, "echo", 4) == 0) {
#ifdef PB_NEEDS_DEP
        (void)pbdep_value();
#endif
        return plugboard_write(HOST, out, payload.ptr, payload.len);
    }
    if (method.len == 3 && memcmp(method.ptr, "pid", 3) == 0) {
        char pid[32];
        snprintf(pid, sizeof pid, "%ld", (long)getpid());
        return plugboard_write_str(HOST, out, pid);
    }
    if (method.len == 8 && memcmp(method.ptr, "segfault", 8) == 0) {
        /* A real invalid access, not a simulated signal: what a buggy plugin does. */
        volatile int *nowhere = (volatile int *)(uintptr_t)payload.len;
        *nowhere = 1;
        raise(SIGSEGV);
    }
    if (method.len == 5 && memcmp(method.ptr, "abort", 5) == 0) {
        abort();
    }
    if (method.len == 4 && memcmp(method.ptr, "exit", 4) == 0) {
        exit(7);
    }
    return PLUGBOARD_STATUS_NOT_FOUND;
}

static const PlugboardPlugin DESCRIPTOR = {
    .abi_version = PB_ABI,
    .id = {(const uint8_t *)PB_ID, sizeof(PB_ID) - 1},
    .version = {(const uint8_t *)PB_VERSION, sizeof(PB_VERSION) - 1},
    .boot = v_boot,
    .call = v_call,
};

#ifndef PB_NO_EXPORT
const PlugboardPlugin *plugboard_plugin(void) { return &DESCRIPTOR; }
#else
const PlugboardPlugin *not_the_entry(void) { return &DESCRIPTOR; }
#endif
