/* LD_PRELOAD shim for the benchmark only: Janus skips interfaces flagged IFF_LOOPBACK when it applies
 * `ice_enforce_list`, so "lo" can never be enforced and libnice gathers on every real interface. This
 * clears the flag in getifaddrs() results so that `ice_enforce_list = "lo"` keeps ICE and media on
 * 127.0.0.1. Built by bench/servers.py into a temp dir (gcc -shared -fPIC); never installed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>

int getifaddrs(struct ifaddrs **ifap) {
    static int (*real)(struct ifaddrs **) = 0;
    if (!real)
        real = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
    int rc = real(ifap);
    if (rc == 0)
        for (struct ifaddrs *i = *ifap; i; i = i->ifa_next)
            i->ifa_flags &= ~IFF_LOOPBACK;
    return rc;
}
