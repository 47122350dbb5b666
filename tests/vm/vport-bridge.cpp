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
// A virtio-serial port is one byte stream, but meshd connects anew after a
// restart or a lost connection, and each connection is an HTTP/2 connection
// of its own. So the bridge frames what it relays, and the host side
// (tests/vm/lab-spire.py) opens one connection to the agent per session:
//
//   frame := type (1 byte) session (4 bytes, big-endian) length (2) payload
//   type  := 'O' a client connected | 'D' bytes | 'C' the session closed
//            | 'R' the bridge (re)started: every earlier session is over
//
// Killing the bridge and starting it again is how scenarios stop and
// restart the SPIRE agent: the socket disappears, and meshd's connection
// with it, then comes back.
//
// Usage: vport-bridge PORT_NAME SOCKET_PATH
// Exits 2 on a usage or setup error; otherwise runs until killed.

#include <cerrno>
#include <cstdint>
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
#include <vector>

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

bool sendFrame(int port, char type, std::uint32_t session, const char *p, size_t len)
{
    unsigned char h[7] = {static_cast<unsigned char>(type),
                          static_cast<unsigned char>(session >> 24),
                          static_cast<unsigned char>(session >> 16),
                          static_cast<unsigned char>(session >> 8),
                          static_cast<unsigned char>(session),
                          static_cast<unsigned char>(len >> 8),
                          static_cast<unsigned char>(len)};
    return writeAll(port, reinterpret_cast<const char *>(h), sizeof h) &&
           (len == 0 || writeAll(port, p, len));
}

struct Session {
    std::uint32_t id;
    int fd;
};

// Relays between the port and any number of clients; returns when the
// port fails.
void relay(int port, int listener)
{
    std::vector<Session> sessions;
    std::uint32_t next = 1;
    std::string in; // bytes from the port not yet framed
    char buf[16384];
    auto closeSession = [&](std::uint32_t id, bool tell) {
        for (auto it = sessions.begin(); it != sessions.end(); ++it)
            if (it->id == id) {
                close(it->fd);
                sessions.erase(it);
                if (tell)
                    sendFrame(port, 'C', id, nullptr, 0);
                return;
            }
    };
    sendFrame(port, 'R', 0, nullptr, 0);
    for (;;) {
        std::vector<pollfd> fds = {{port, POLLIN, 0}, {listener, POLLIN, 0}};
        for (const Session &c : sessions)
            fds.push_back({c.fd, POLLIN, 0});
        if (poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (fds[1].revents & POLLIN) {
            int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0) {
                sessions.push_back({next, c});
                sendFrame(port, 'O', next++, nullptr, 0);
            }
        }
        for (size_t i = 2; i < fds.size(); ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            std::uint32_t id = sessions[i - 2].id;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0)
                closeSession(id, true); // the client went away
            else if (!sendFrame(port, 'D', id, buf, static_cast<size_t>(n)))
                return;
            break; // `sessions` may have changed: poll again
        }
        if (fds[0].revents & POLLIN) {
            ssize_t n = read(port, buf, sizeof buf);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n <= 0) {
                usleep(100 * 1000); // the host end is not connected (yet, or any more)
                continue;
            }
            in.append(buf, static_cast<size_t>(n));
            while (in.size() >= 7) {
                auto u = [&](size_t i) { return static_cast<unsigned char>(in[i]); };
                std::uint32_t id = u(1) << 24 | u(2) << 16 | u(3) << 8 | u(4);
                size_t len = u(5) << 8 | u(6);
                if (in.size() < 7 + len)
                    break;
                char type = in[0];
                for (const Session &c : sessions)
                    if (c.id == id && type == 'D' && !writeAll(c.fd, in.data() + 7, len)) {
                        closeSession(id, true);
                        break;
                    }
                if (type == 'C')
                    closeSession(id, false);
                in.erase(0, 7 + len);
            }
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
    relay(port, ls);
    std::fprintf(stderr, "vport-bridge: %s: the port failed: %s\n", name.c_str(), std::strerror(errno));
    return 1;
}
