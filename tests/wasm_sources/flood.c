/* flood: writes to stdout forever. */
#include <stdio.h>

int main(void) {
    for (;;) fputs("flooding the output with bytes that nobody asked for\n", stdout);
}
