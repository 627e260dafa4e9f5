#include "tempclean.h"

#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* The temporary file's path, valid while `armed` is set: written only
 * with the flag clear, so the handler never sees half a path. Process-
 * wide state, as signal dispositions are. */
static char temp_path[PATH_MAX + 16];
static volatile sig_atomic_t armed;

/* Async-signal-safe: unlink, signal and raise only. */
static void on_signal(int sig) {
    if (armed) unlink(temp_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

void tempclean_install(void) {
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

void tempclean_hook(void *ud, const char *tmp_path) {
    (void)ud;
    armed = 0;
    if (!tmp_path || strlen(tmp_path) >= sizeof temp_path) return;
    memcpy(temp_path, tmp_path, strlen(tmp_path) + 1);
    armed = 1;
}
