/* An Extism-ABI WebAssembly plugin in C: `count` counts the vowels of its input and answers
 * JSON, `{"vowels": N}`, and says so in the plugin's log. No libc, no WASI: it needs nothing
 * of the sandbox.
 *
 * Build it into its plugin directory (Debian: apt-get install clang lld):
 *   clang --target=wasm32 -nostdlib -O2 -Wl,--no-entry \
 *     -o examples/wasm-c/plugins/vowels/vowels.wasm examples/wasm-c/vowels.c
 */
#include <stdint.h>

#define EXTISM(name) __attribute__((import_module("extism:host/env"), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

EXTISM("input_length") uint64_t extism_input_length(void);
EXTISM("input_load_u8") uint8_t extism_input_load_u8(uint64_t index);
EXTISM("alloc") uint64_t extism_alloc(uint64_t length);
EXTISM("store_u8") void extism_store_u8(uint64_t offset, uint8_t byte);
EXTISM("output_set") void extism_output_set(uint64_t offset, uint64_t length);
EXTISM("log_info") void extism_log_info(uint64_t offset);

/* Copies `n` bytes into a new block of the host's memory. */
static uint64_t block(const char *bytes, uint64_t n) {
    uint64_t offset = extism_alloc(n);
    for (uint64_t i = 0; i < n; i++) extism_store_u8(offset + i, (uint8_t)bytes[i]);
    return offset;
}

static int is_vowel(uint8_t c) {
    c |= 0x20; /* lower case */
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

EXPORT("count") int32_t count(void) {
    uint64_t n = extism_input_length(), vowels = 0;
    for (uint64_t i = 0; i < n; i++) vowels += is_vowel(extism_input_load_u8(i));

    char digits[20];
    int d = 0;
    do { digits[d++] = (char)('0' + vowels % 10); vowels /= 10; } while (vowels);
    char json[40] = "{\"vowels\": ";
    int len = 11;
    while (d) json[len++] = digits[--d];
    json[len++] = '}';

    extism_log_info(block("counted the vowels of a line", 28));
    extism_output_set(block(json, (uint64_t)len), (uint64_t)len);
    return 0;
}
