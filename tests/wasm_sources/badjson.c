/* badjson: prints something that is not JSON. */
#include <stdio.h>

int main(void) {
    puts("this is not { json");
    return 0;
}
