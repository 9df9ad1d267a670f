/* echo: prints its JSON arguments object back, byte for byte. */
#include <stdio.h>

int main(void) {
    char buffer[65536];
    size_t n = fread(buffer, 1, sizeof buffer, stdin);
    fwrite(buffer, 1, n, stdout);
    return 0;
}
