// SPDX-License-Identifier: GPL-2.0-or-later
#include "udp_port.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <netinet/udp.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace meshd::forward {

namespace {
// UDP_MAX_SEGMENTS is 64 on older kernels (128 since 6.x).
constexpr unsigned maxSegments = 64;
// A GSO super-datagram's payload must fit one IP packet.
constexpr std::size_t maxGsoBytes = 60000;

void setBuffer(int fd, int force, int plain, int bytes)
{
    if (::setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof(bytes)) < 0)
        ::setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof(bytes));
}
} // namespace

bool sameEndpoint(const sockaddr_storage &a, const sockaddr_storage &b) noexcept
{
    if (a.ss_family != b.ss_family)
        return false;
    if (a.ss_family == AF_INET) {
        const auto &x = reinterpret_cast<const sockaddr_in &>(a);
        const auto &y = reinterpret_cast<const sockaddr_in &>(b);
        return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
    }
    if (a.ss_family == AF_INET6) {
        const auto &x = reinterpret_cast<const sockaddr_in6 &>(a);
        const auto &y = reinterpret_cast<const sockaddr_in6 &>(b);
        return x.sin6_port == y.sin6_port && x.sin6_scope_id == y.sin6_scope_id &&
               std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof(x.sin6_addr)) == 0;
    }
    return false;
}

UdpPort::~UdpPort()
{
    if (fd_ >= 0)
        ::close(fd_);
}

int UdpPort::open(const sockaddr *addr, socklen_t len, const UdpOptions &options)
{
    if (fd_ >= 0)
        return -EALREADY;
    if (!addr || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
        return -EAFNOSUPPORT;
    int fd = ::socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    int rc = 0;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        rc = -errno;
    if (rc == 0 && addr->sa_family == AF_INET6 &&
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        rc = -errno;
    if (rc == 0) {
        setBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, options.bufferBytes);
        setBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, options.bufferBytes);
        if (::bind(fd, addr, len) < 0)
            rc = -errno;
    }
    sockaddr_storage bound{};
    socklen_t boundLen = sizeof(bound);
    if (rc == 0 && ::getsockname(fd, reinterpret_cast<sockaddr *>(&bound), &boundLen) < 0)
        rc = -errno;
    if (rc < 0) {
        ::close(fd);
        return rc;
    }
    port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in &>(bound).sin_port
                                             : reinterpret_cast<sockaddr_in6 &>(bound).sin6_port);
    family_ = addr->sa_family;
    gso_ = options.gso;
    fd_ = fd;
    return 0;
}

unsigned UdpPort::receive(FramePool &pool, std::uint32_t *frames, Endpoint *from,
                          unsigned max) noexcept
{
    max = std::min(max, udpBatch);
    unsigned armed = 0;
    for (; armed < max; ++armed) {
        std::uint32_t idx = pool.acquire();
        if (idx == noFrame) {
            ++poolEmpty;
            break;
        }
        frames[armed] = idx;
        FrameView v = pool.view(idx);
        iovs_[armed] = {v.head + datagramOffset, v.room - datagramOffset};
        msghdr &m = msgs_[armed].msg_hdr;
        m.msg_name = &from[armed].addr;
        m.msg_namelen = sizeof(from[armed].addr);
        m.msg_iov = &iovs_[armed];
        m.msg_iovlen = 1;
        m.msg_control = nullptr;
        m.msg_controllen = 0;
        m.msg_flags = 0;
    }
    int r = armed ? ::recvmmsg(fd_, msgs_, armed, MSG_DONTWAIT, nullptr) : 0;
    unsigned got = r > 0 ? unsigned(r) : 0;
    for (unsigned i = got; i < armed; ++i)
        pool.release(frames[i]);
    unsigned kept = 0;
    for (unsigned i = 0; i < got; ++i) {
        if (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) {
            ++tooBig;
            pool.release(frames[i]);
            continue;
        }
        FrameView v = pool.view(frames[i]);
        v.offset = datagramOffset;
        v.length = msgs_[i].msg_len;
        pool.save(frames[i], v);
        frames[kept] = frames[i];
        if (kept != i)
            from[kept].addr = from[i].addr;
        from[kept].len = msgs_[i].msg_hdr.msg_namelen;
        ++kept;
    }
    return kept;
}

unsigned UdpPort::send(FramePool &pool, const Outgoing *out, unsigned n, unsigned &failed) noexcept
{
    unsigned done = 0;
    while (done < n) {
        // One round: up to udpBatch datagrams in up to udpBatch messages.
        unsigned iov = 0, msgs = 0, i = done;
        while (i < n && iov < udpBatch) {
            unsigned start = i;
            FrameView v = pool.view(out[i].frame);
            msghdr &m = msgs_[msgs].msg_hdr;
            m.msg_name = const_cast<sockaddr *>(out[i].to);
            m.msg_namelen = out[i].toLen;
            m.msg_iov = &iovs_[iov];
            m.msg_control = nullptr;
            m.msg_controllen = 0;
            m.msg_flags = 0;
            iovs_[iov++] = {v.data(), v.length};
            ++i;
            std::size_t segment = v.length, total = v.length;
            while (gso_ && i < n && iov < udpBatch && i - start < maxSegments &&
                   out[i].to == out[start].to) {
                FrameView w = pool.view(out[i].frame);
                if (w.length > segment || total + w.length > maxGsoBytes)
                    break;
                iovs_[iov++] = {w.data(), w.length};
                total += w.length;
                ++i;
                if (w.length < segment) // only the last segment may be shorter
                    break;
            }
            m.msg_iovlen = i - start;
            if (i - start > 1) {
                m.msg_control = cmsgs_[msgs];
                m.msg_controllen = sizeof(cmsgs_[msgs]);
                cmsghdr *c = CMSG_FIRSTHDR(&m);
                c->cmsg_level = SOL_UDP;
                c->cmsg_type = UDP_SEGMENT;
                c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
                std::uint16_t seg = std::uint16_t(segment);
                std::memcpy(CMSG_DATA(c), &seg, sizeof(seg));
            }
            datagrams_[msgs++] = i - start;
        }

        unsigned k = 0;
        while (k < msgs) {
            int r = ::sendmmsg(fd_, msgs_ + k, msgs - k, MSG_DONTWAIT);
            ++sendCalls;
            if (r > 0) {
                sendMessages += unsigned(r);
                for (int j = 0; j < r; ++j)
                    done += datagrams_[k + unsigned(j)];
                k += unsigned(r);
                continue;
            }
            int err = r < 0 ? errno : EIO;
            if (err == EINTR)
                continue;
            if (err == EAGAIN || err == EWOULDBLOCK)
                return done;
            if (datagrams_[k] > 1 && (err == EIO || err == EINVAL || err == ENOPROTOOPT)) {
                // The route cannot segment (no checksum offload): send them one by one.
                gso_ = false;
                break;
            }
            failed += datagrams_[k];
            done += datagrams_[k];
            ++k;
        }
    }
    return done;
}

} // namespace meshd::forward
