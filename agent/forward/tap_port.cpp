// SPDX-License-Identifier: GPL-2.0-or-later
#include "tap_port.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace meshd::forward {

TapPort::~TapPort()
{
    if (fd_ >= 0)
        ::close(fd_);
}

int TapPort::open(const std::string &name)
{
    if (fd_ >= 0)
        return -EALREADY;
    if (name.empty() || name.size() >= IFNAMSIZ)
        return -EINVAL;
    int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name.c_str(), name.size());
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int rc = -errno;
        ::close(fd);
        return rc;
    }
    fd_ = fd;
    return 0;
}

unsigned TapPort::receive(FramePool &pool, std::uint32_t *frames, unsigned max) noexcept
{
    unsigned got = 0;
    while (got < max) {
        std::uint32_t idx = pool.acquire();
        if (idx == noFrame) {
            ++poolEmpty_;
            // Leave the frames in the kernel: nothing to read them into.
            break;
        }
        FrameView v = pool.view(idx);
        // One byte more than the data room (the tailroom has it) tells an
        // oversize frame from one that fits exactly.
        ssize_t n = ::read(fd_, v.data(), pool.dataRoom() + 1);
        if (n <= 0) {
            pool.release(idx);
            break;
        }
        if (std::size_t(n) > pool.dataRoom()) {
            ++tooBig_;
            pool.release(idx);
            continue;
        }
        v.length = std::uint32_t(n);
        pool.save(idx, v);
        frames[got++] = idx;
    }
    return got;
}

unsigned TapPort::transmit(FramePool &pool, const std::uint32_t *frames, unsigned n) noexcept
{
    unsigned taken = 0;
    for (unsigned i = 0; i < n; ++i) {
        FrameView v = pool.view(frames[i]);
        ssize_t w = ::write(fd_, v.data(), v.length);
        if (w == ssize_t(v.length))
            ++taken;
        else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
    }
    return taken;
}

} // namespace meshd::forward
