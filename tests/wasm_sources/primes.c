/* primes: {"limit": N} on stdin -> [2, 3, 5, ...] up to N on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char input[4096];
    size_t n = fread(input, 1, sizeof input - 1, stdin);
    input[n] = '\0';
    const char *key = strstr(input, "\"limit\"");
    if (!key) {
        fprintf(stderr, "missing \"limit\"\n");
        return 2;
    }
    long limit = strtol(strchr(key, ':') + 1, NULL, 10);
    char *sieve = calloc(limit + 1, 1);
    printf("[");
    int first = 1;
    for (long i = 2; i <= limit; i++) {
        if (sieve[i]) continue;
        printf(first ? "%ld" : ", %ld", i);
        first = 0;
        for (long j = i * i; j <= limit; j += i) sieve[j] = 1;
    }
    printf("]\n");
    return 0;
}
