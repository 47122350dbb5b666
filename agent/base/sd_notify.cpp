// SPDX-License-Identifier: GPL-2.0-or-later
#include "sd_notify.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace meshd {

int Notifier::init()
{
    if (const char *usec = getenv("WATCHDOG_USEC")) {
        const char *wpid = getenv("WATCHDOG_PID");
        char *end = nullptr;
        unsigned long long v = strtoull(usec, &end, 10);
        bool forUs = !wpid || strtol(wpid, nullptr, 10) == getpid();
        if (end && *end == '\0' && v > 0 && forUs)
            watchdog_ = std::chrono::microseconds(v / 2);
    }
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    if (path[0] != '/' && path[0] != '@')
        return -EAFNOSUPPORT;
    if (strlen(path) >= sizeof(sockaddr_un::sun_path))
        return -ENAMETOOLONG;
    address_ = path;
    fd_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd_.isValid())
        return -errno;
    return 0;
}

int Notifier::send(const std::string &state)
{
    if (!fd_.isValid())
        return 0;
    struct sockaddr_un sa = {};
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, address_.data(), address_.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    else
        len++; // include the terminating NUL of a path
    if (sendto(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL,
               reinterpret_cast<sockaddr *>(&sa), len) < 0)
        return -errno;
    return 0;
}

} // namespace meshd
