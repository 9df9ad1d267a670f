/* membomb: allocates and touches memory until something stops it. */
#include <stdlib.h>
#include <string.h>

void *volatile keep; /* every block stays reachable, so none can be optimised away */

int main(void) {
    for (;;) {
        char *block = malloc(1 << 20);
        if (!block) return 99;
        memset(block, 1, 1 << 20);
        *(void **)block = keep;
        keep = block;
    }
}
