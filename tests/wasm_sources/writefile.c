/* writefile: {"path": "..."} -> true once "written" is in the file; exit 1 if it cannot be. */
#include <stdio.h>
#include <string.h>

int main(void) {
    char input[4096], path[1024];
    size_t n = fread(input, 1, sizeof input - 1, stdin);
    input[n] = '\0';
    const char *key = strstr(input, "\"path\"");
    if (!key || sscanf(strchr(key, ':') + 1, " \"%1023[^\"]\"", path) != 1) return 2;
    FILE *file = fopen(path, "w");
    if (!file || fputs("written\n", file) < 0 || fclose(file) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    puts("true");
    return 0;
}
