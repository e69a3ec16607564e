/* An Extism-ABI plugin in C that uses WASI preview 1 (wasi-libc): it reads files, writes
 * files and reads environment variables, so the tests can see what its sandbox allows. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXTISM(name) __attribute__((import_module("extism:host/env"), import_name(name)))
EXTISM("alloc") uint64_t extism_alloc(uint64_t n);
EXTISM("store_u8") void extism_store_u8(uint64_t offset, uint8_t byte);
EXTISM("output_set") void extism_output_set(uint64_t offset, uint64_t length);
EXTISM("input_length") uint64_t extism_input_length(void);
EXTISM("input_load_u8") uint8_t extism_input_load_u8(uint64_t index);

static void output(const char *text) {
    size_t n = strlen(text);
    uint64_t block = extism_alloc(n);
    for (size_t i = 0; i < n; i++) extism_store_u8(block + i, (uint8_t)text[i]);
    extism_output_set(block, n);
}

/* The input as a C string (truncated to the buffer). */
static void input(char *buf, size_t cap) {
    uint64_t n = extism_input_length();
    if (n >= cap) n = cap - 1;
    for (uint64_t i = 0; i < n; i++) buf[i] = (char)extism_input_load_u8(i);
    buf[n] = 0;
}

__attribute__((export_name("read"))) int32_t read_file(void) {
    char path[256], reply[512], content[128] = {0};
    input(path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(reply, sizeof reply, "denied: %s", strerror(errno));
    } else {
        size_t n = fread(content, 1, sizeof content - 1, f);
        content[n] = 0;
        fclose(f);
        snprintf(reply, sizeof reply, "ok: %s", content);
    }
    output(reply);
    return 0;
}

__attribute__((export_name("write"))) int32_t write_file(void) {
    char path[256], reply[512];
    input(path, sizeof path);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(reply, sizeof reply, "denied: %s", strerror(errno));
    } else {
        fputs("written", f);
        fclose(f);
        snprintf(reply, sizeof reply, "ok");
    }
    output(reply);
    return 0;
}

__attribute__((export_name("env"))) int32_t env(void) {
    char name[128];
    input(name, sizeof name);
    const char *value = getenv(name);
    output(value ? value : "(unset)");
    return 0;
}
