// SPDX-License-Identifier: GPL-2.0-or-later
#include "client.h"

#include <algorithm>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace meshctl {

namespace {

int remainingMs(std::optional<std::chrono::steady_clock::time_point> deadline)
{
    if (!deadline)
        return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        *deadline - std::chrono::steady_clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Waits for `events`; false on timeout, with errno set.
bool waitFor(int fd, short events, std::optional<std::chrono::steady_clock::time_point> deadline)
{
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, remainingMs(deadline));
        if (n > 0)
            return true;
        if (n == 0) {
            errno = ETIMEDOUT;
            return false;
        }
        if (errno != EINTR)
            return false;
    }
}

} // namespace

Client::~Client()
{
    if (fd_ >= 0)
        close(fd_);
}

std::string Client::connect(const std::string &path,
                            std::chrono::steady_clock::time_point deadline)
{
    struct sockaddr_un sa = {};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sa.sun_path))
        return "socket path is too long: " + path;
    memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0)
        return strerror(errno);
    // A full backlog gives EAGAIN on Unix sockets: retry until the deadline.
    for (;;) {
        if (::connect(fd_, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) == 0)
            return {};
        int err = errno;
        if (err != EAGAIN && err != EINTR) {
            std::string hint;
            if (err == ENOENT || err == ECONNREFUSED)
                hint = " (is meshd running? try --socket or $MESHD_SOCKET)";
            else if (err == EACCES)
                hint = " (not in the socket's group?)";
            return "cannot connect to " + path + ": " + strerror(err) + hint;
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return "cannot connect to " + path + ": timed out";
        usleep(10000);
    }
}

std::string Client::send(const nlohmann::json &request,
                         std::chrono::steady_clock::time_point deadline)
{
    std::string line = request.dump() + "\n";
    std::size_t off = 0;
    while (off < line.size()) {
        ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
        if (n >= 0) {
            off += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return std::string("cannot send request: ") + strerror(errno);
        if (!waitFor(fd_, POLLOUT, deadline))
            return std::string("cannot send request: ") + strerror(errno);
    }
    return {};
}

std::optional<std::string> Client::readLine(
    std::optional<std::chrono::steady_clock::time_point> deadline, std::string &error,
    std::optional<std::chrono::steady_clock::duration> idle)
{
    std::size_t scanned = 0; // a reply of megabytes comes in many reads: look at each byte once
    for (;;) {
        if (auto nl = buffer_.find('\n', scanned); nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            return line;
        }
        scanned = buffer_.size();
        if (!waitFor(fd_, POLLIN, deadline)) {
            error = errno == ETIMEDOUT ? "timed out waiting for meshd's reply"
                                       : std::string("cannot read reply: ") + strerror(errno);
            return std::nullopt;
        }
        char buf[65536];
        ssize_t n = recv(fd_, buf, sizeof(buf), 0);
        if (n == 0) {
            error = "meshd closed the connection";
            return std::nullopt;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            error = std::string("cannot read reply: ") + strerror(errno);
            return std::nullopt;
        }
        buffer_.append(buf, static_cast<std::size_t>(n));
        if (deadline && idle)
            deadline = std::max(*deadline, std::chrono::steady_clock::now() + *idle);
    }
}

} // namespace meshctl
