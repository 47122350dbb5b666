// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "frame_pool.h"
#include "wire.h"

#include <cstdint>
#include <netinet/in.h>
#include <sys/socket.h>

namespace meshd::forward {

// Datagrams per recvmmsg/sendmmsg call.
inline constexpr unsigned udpBatch = 64;
// Where a datagram is received in a pool frame: the header right before the
// headroom, so that the inner frame lands at the headroom once the header
// and the tag are trimmed, without a copy.
inline constexpr std::uint32_t datagramOffset = frameHeadroom - wire::headerSize;

// A peer address as it came with a datagram or goes with one.
struct Endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
};
// Same family, address, port (and scope for IPv6); flow info is ignored.
bool sameEndpoint(const sockaddr_storage &a, const sockaddr_storage &b) noexcept;

// One datagram to send: a pool frame whose view is the whole datagram.
struct Outgoing {
    std::uint32_t frame;
    const sockaddr *to;
    socklen_t toLen;
};

struct UdpOptions {
    int bufferBytes = 8 << 20; // SO_RCVBUF/SO_SNDBUF (the *FORCE variants first)
    bool gso = true;           // UDP_SEGMENT for runs of equal-size datagrams to one endpoint
};

// One worker's UDP socket: non-blocking, SO_REUSEPORT so that every worker
// has its own socket on the same port, IPV6_V6ONLY for IPv6.
class UdpPort {
public:
    UdpPort() = default;
    ~UdpPort();
    UdpPort(const UdpPort &) = delete;
    UdpPort &operator=(const UdpPort &) = delete;

    // Binds to addr (port 0: the kernel picks; later workers pass the port
    // the first got). 0 or -errno.
    int open(const sockaddr *addr, socklen_t len, const UdpOptions &options);
    int fd() const { return fd_; }
    // The bound port, host order (0 before open()).
    std::uint16_t port() const { return port_; }
    int family() const { return family_; }

    // Up to max datagrams (at most udpBatch) without blocking, each into a
    // pool frame whose view is the whole datagram at datagramOffset, its
    // source in from[i]. Datagrams larger than the frame are dropped and
    // counted in tooBig; with the pool empty it receives nothing and adds
    // one to poolEmpty. The caller owns the frames.
    unsigned receive(FramePool &pool, std::uint32_t *frames, Endpoint *from, unsigned max) noexcept;

    // Sends up to n datagrams (at most udpBatch per call of sendmmsg, more
    // with GSO); returns how many it is done with: sent, or refused by the
    // kernel (counted in failed). Less than n: the socket buffer is full
    // (EAGAIN), the rest may be retried once fd() is writable. The frames
    // stay the caller's.
    unsigned send(FramePool &pool, const Outgoing *out, unsigned n, unsigned &failed) noexcept;

    // Counters since the last take (worker only).
    std::uint32_t tooBig = 0;
    std::uint32_t poolEmpty = 0;
    // Syscalls and messages of the last send, for tests and benchmarks.
    std::uint64_t sendCalls = 0;
    std::uint64_t sendMessages = 0;

private:
    int fd_ = -1;
    int family_ = 0;
    std::uint16_t port_ = 0;
    bool gso_ = false;
    mmsghdr msgs_[udpBatch]{};
    iovec iovs_[udpBatch]{};
    unsigned datagrams_[udpBatch]{}; // per message of a send: how many datagrams it carries
    alignas(cmsghdr) char cmsgs_[udpBatch][CMSG_SPACE(sizeof(std::uint16_t))]{};
};

} // namespace meshd::forward
