/* broken: does not compile (an undeclared name on line 5). */
#include <stdio.h>

int main(void) {
    printf("%d\n", undeclared_value);
    return 0;
}
