/* readfile: {"path": "..."} -> the file's first line as a JSON string; exit 1 if unreadable. */
#include <stdio.h>
#include <string.h>

int main(void) {
    char input[4096], path[1024], line[256];
    size_t n = fread(input, 1, sizeof input - 1, stdin);
    input[n] = '\0';
    const char *key = strstr(input, "\"path\"");
    if (!key || sscanf(strchr(key, ':') + 1, " \"%1023[^\"]\"", path) != 1) return 2;
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    if (!fgets(line, sizeof line, file)) line[0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    printf("\"%s\"\n", line);
    return 0;
}
