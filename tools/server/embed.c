/* embed IN OUT NAME: writes OUT, a C header defining
 *   static const char NAME[] = { ...the bytes of IN..., 0 };
 * so a file (the chat page) is part of the program that serves it, and
 * the program needs nothing beside it at run time. Run by the build. */
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: embed IN OUT NAME\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "w");
    if (!in || !out) {
        fprintf(stderr, "embed: cannot open %s\n", in ? argv[2] : argv[1]);
        return 1;
    }
    fprintf(out, "/* generated from %s by tools/server/embed.c */\nstatic const char %s[] = {", argv[1], argv[3]);
    int c;
    for (long n = 0; (c = getc(in)) != EOF; n++) fprintf(out, "%s0x%02x,", n % 16 ? "" : "\n", c);
    fprintf(out, "\n0};\n");
    int bad = ferror(in) || fclose(out);
    fclose(in);
    if (bad) fprintf(stderr, "embed: cannot write %s\n", argv[2]);
    return bad;
}
