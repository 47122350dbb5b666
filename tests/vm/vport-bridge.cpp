// SPDX-License-Identifier: GPL-2.0-or-later
//
// vport-bridge: a lab tool that makes a host-side Unix socket appear as a
// Unix socket inside the VM, over one virtio-serial port.
//
// The lab VM has no network device. Scenarios that need a SPIFFE Workload
// API (the tunnel, the peer channel) use the fake SPIRE agent of
// tests/spiffe, a real gRPC server that runs on the host: infra/lab/lab
// starts one per node and hands each to qemu as a chardev behind a
// virtserialport named "spire.NODE". Inside the VM this tool finds the port
// by that name (/sys/class/virtio-ports/*/name), listens on a Unix socket
// and relays bytes between the socket's client and the port.
//
// A virtio-serial port is one byte stream: the host side holds a single
// HTTP/2 connection. The bridge therefore serves one client at a time, and a
// second client after the first has gone would start a new HTTP/2 connection
// in the middle of the old one. It says so and serves it anyway (the agent
// will refuse it); scenarios keep one meshd per port.
//
// Usage: vport-bridge PORT_NAME SOCKET_PATH
// Exits 2 on a usage or setup error; otherwise runs until killed.

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

std::string readFirstLine(const std::string &path)
{
    FILE *f = std::fopen(path.c_str(), "r");
    if (!f)
        return {};
    char buf[256] = {};
    if (!std::fgets(buf, sizeof buf, f))
        buf[0] = 0;
    std::fclose(f);
    std::string s(buf);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
        s.pop_back();
    return s;
}

// The /dev node of the virtio-serial port called NAME, or "".
std::string findPort(const std::string &name)
{
    DIR *d = opendir("/sys/class/virtio-ports");
    if (!d)
        return {};
    std::string found;
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        std::string dev = e->d_name;
        if (readFirstLine("/sys/class/virtio-ports/" + dev + "/name") == name) {
            found = "/dev/" + dev;
            break;
        }
    }
    closedir(d);
    return found;
}

// Writes all of LEN bytes; false when the other side is gone.
bool writeAll(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            pollfd w{fd, POLLOUT, 0};
            poll(&w, 1, 1000);
            continue;
        }
        if (n <= 0)
            return false;
        p += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

// Relays until the client closes; false when the port failed.
bool relay(int port, int client)
{
    char buf[65536];
    for (;;) {
        pollfd fds[2] = {{port, POLLIN, 0}, {client, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(client, buf, sizeof buf);
            if (n <= 0)
                return true; // the client went away
            if (!writeAll(port, buf, static_cast<size_t>(n)))
                return false;
        }
        if (fds[0].revents & POLLIN) {
            ssize_t n = read(port, buf, sizeof buf);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n <= 0) {
                // The host end is not connected (yet, or any more).
                usleep(100 * 1000);
                continue;
            }
            if (!writeAll(client, buf, static_cast<size_t>(n)))
                return true;
        } else if (fds[0].revents & (POLLHUP | POLLERR)) {
            usleep(100 * 1000); // host side not connected; poll again
        }
    }
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 3) {
        std::fprintf(stderr, "usage: vport-bridge PORT_NAME SOCKET_PATH\n");
        return 2;
    }
    const std::string name = argv[1], path = argv[2];
    std::string dev;
    for (int i = 0; i < 50 && (dev = findPort(name)).empty(); i++)
        usleep(100 * 1000); // the port may show up just after boot
    if (dev.empty()) {
        std::fprintf(stderr, "vport-bridge: no virtio-serial port named %s in /sys/class/virtio-ports\n",
                     name.c_str());
        return 2;
    }
    int port = open(dev.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (port < 0) {
        std::fprintf(stderr, "vport-bridge: %s: %s\n", dev.c_str(), std::strerror(errno));
        return 2;
    }
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) {
        std::fprintf(stderr, "vport-bridge: socket path too long: %s\n", path.c_str());
        return 2;
    }
    std::memcpy(sa.sun_path, path.c_str(), path.size());
    unlink(path.c_str());
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0 || bind(ls, reinterpret_cast<sockaddr *>(&sa), sizeof sa) < 0 || listen(ls, 4) < 0) {
        std::fprintf(stderr, "vport-bridge: %s: %s\n", path.c_str(), std::strerror(errno));
        return 2;
    }
    std::fprintf(stderr, "vport-bridge: %s (%s) on %s\n", name.c_str(), dev.c_str(), path.c_str());
    for (int served = 0;; served++) {
        int c = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            std::fprintf(stderr, "vport-bridge: accept: %s\n", std::strerror(errno));
            return 1;
        }
        if (served > 0)
            std::fprintf(stderr, "vport-bridge: %s: client %d reuses the port's one host connection\n",
                         name.c_str(), served + 1);
        bool ok = relay(port, c);
        close(c);
        if (!ok) {
            std::fprintf(stderr, "vport-bridge: %s: the port failed: %s\n", name.c_str(),
                         std::strerror(errno));
            return 1;
        }
    }
}
