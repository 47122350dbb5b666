// SPDX-License-Identifier: GPL-2.0-or-later
#include "packet_ring_port.h"

#include <arpa/inet.h>
#include <bit>
#include <cerrno>
#include <cstring>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

namespace meshd::forward {

namespace {
// Where a frame's data starts in a TX slot (tp_hdrlen - sizeof(sockaddr_ll)).
constexpr std::uint32_t txDataOffset = TPACKET_ALIGN(sizeof(tpacket2_hdr));
// Room in an RX slot before the data: the header, the address and the
// kernel's alignment of the MAC header.
constexpr std::uint32_t rxOverhead = TPACKET_ALIGN(sizeof(tpacket2_hdr)) + sizeof(sockaddr_ll) + 32;

// The ring's status words are shared with the kernel: atomic accesses so
// that the compiler neither tears nor reorders them around the frame data.
std::uint32_t loadStatus(const std::uint32_t *status)
{
    return __atomic_load_n(status, __ATOMIC_ACQUIRE);
}
void storeStatus(std::uint32_t *status, std::uint32_t value)
{
    __atomic_store_n(status, value, __ATOMIC_RELEASE);
}

int setOpt(int fd, int option, const void *value, socklen_t len)
{
    return ::setsockopt(fd, SOL_PACKET, option, value, len) < 0 ? -errno : 0;
}
} // namespace

PacketRingPort::~PacketRingPort()
{
    if (map_)
        ::munmap(map_, mapSize_);
    if (fd_ >= 0)
        ::close(fd_);
}

int PacketRingPort::open(int ifindex, std::uint32_t dataRoom, const PacketRingOptions &options)
{
    if (fd_ >= 0)
        return -EALREADY;
    long page = ::sysconf(_SC_PAGESIZE);
    if (options.rxBlockSize == 0 || options.rxBlockSize % std::uint32_t(page) != 0 ||
        options.rxBlocks == 0 || options.txFrames == 0)
        return -EINVAL;
    // Protocol 0: nothing is queued before bind() names the interface.
    int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    auto fail = [&](int rc) {
        if (map_)
            ::munmap(map_, mapSize_);
        map_ = nullptr;
        ::close(fd);
        return rc;
    };

    // TPACKET_V2: every frame has its own status word, so the socket is
    // readable as soon as one frame is in the ring (V3 hands over whole
    // blocks, which holds a lone frame back until the block times out, at
    // least 1 ms: too much latency for a tunnel at low load).
    int version = TPACKET_V2, one = 1;
    int rc = setOpt(fd, PACKET_VERSION, &version, sizeof(version));
    if (rc == 0)
        rc = setOpt(fd, PACKET_QDISC_BYPASS, &one, sizeof(one));
    if (rc == 0)
        rc = setOpt(fd, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
    if (rc < 0)
        return fail(rc);

    std::uint32_t rxFrameSize = std::bit_ceil(rxOverhead + dataRoom);
    if (options.rxBlockSize % rxFrameSize != 0)
        return fail(-EINVAL);
    tpacket_req rxReq{};
    rxReq.tp_block_size = options.rxBlockSize;
    rxReq.tp_block_nr = options.rxBlocks;
    rxReq.tp_frame_size = rxFrameSize;
    rxReq.tp_frame_nr = options.rxBlockSize / rxFrameSize * options.rxBlocks;
    if ((rc = setOpt(fd, PACKET_RX_RING, &rxReq, sizeof(rxReq))) < 0)
        return fail(rc);

    // TX slots of a power of two (a TX ring's frames may not cross blocks),
    // whole pages per block.
    std::uint32_t frameSize = std::bit_ceil(txDataOffset + dataRoom);
    std::uint32_t blockSize = std::max<std::uint32_t>(frameSize, std::uint32_t(page));
    std::uint32_t perBlock = blockSize / frameSize;
    std::uint32_t txBlocks = (options.txFrames + perBlock - 1) / perBlock;
    tpacket_req txReq{};
    txReq.tp_block_size = blockSize;
    txReq.tp_block_nr = txBlocks;
    txReq.tp_frame_size = frameSize;
    txReq.tp_frame_nr = txBlocks * perBlock;
    if ((rc = setOpt(fd, PACKET_TX_RING, &txReq, sizeof(txReq))) < 0)
        return fail(rc);

    std::size_t rxBytes = std::size_t(rxReq.tp_block_size) * rxReq.tp_block_nr;
    std::size_t txBytes = std::size_t(txReq.tp_block_size) * txReq.tp_block_nr;
    mapSize_ = rxBytes + txBytes;
    void *p = ::mmap(nullptr, mapSize_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED)
        return fail(-errno);
    map_ = static_cast<std::uint8_t *>(p);

    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = ifindex;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) < 0)
        return fail(-errno);
    if (options.fanoutId) {
        int fanout = options.fanoutId | (PACKET_FANOUT_HASH << 16);
        if ((rc = setOpt(fd, PACKET_FANOUT, &fanout, sizeof(fanout))) < 0)
            return fail(rc);
    }

    fd_ = fd;
    dataRoom_ = dataRoom;
    rx_ = map_;
    rxFrameSize_ = rxFrameSize;
    rxFrames_ = rxReq.tp_frame_nr;
    tx_ = map_ + rxBytes;
    txFrameSize_ = frameSize;
    txFrames_ = txReq.tp_frame_nr;
    stats_.rxSize.store(rxFrames_, std::memory_order_relaxed);
    stats_.txSize.store(txFrames_, std::memory_order_relaxed);
    return 0;
}

unsigned PacketRingPort::receive(FramePool &pool, std::uint32_t *frames, unsigned max) noexcept
{
    unsigned got = 0, seen = 0;
    while (got < max) {
        auto *h = reinterpret_cast<tpacket2_hdr *>(rx_ + std::size_t(rxNext_) * rxFrameSize_);
        if (!(loadStatus(&h->tp_status) & TP_STATUS_USER))
            break;
        ++seen;
        auto *slot = reinterpret_cast<std::uint8_t *>(h);
        auto *ll = reinterpret_cast<const sockaddr_ll *>(slot + TPACKET_ALIGN(sizeof(tpacket2_hdr)));
        if (ll->sll_pkttype == PACKET_OUTGOING) {
            // PACKET_IGNORE_OUTGOING keeps these out; nothing to do if one slips by.
        } else if (h->tp_snaplen != h->tp_len || h->tp_snaplen > dataRoom_) {
            ++tooBig_;
        } else {
            std::uint32_t idx = pool.acquire();
            if (idx == noFrame) {
                ++poolEmpty_;
            } else {
                FrameView v = pool.view(idx);
                std::memcpy(v.data(), slot + h->tp_mac, h->tp_snaplen);
                v.length = h->tp_snaplen;
                pool.save(idx, v);
                frames[got++] = idx;
            }
        }
        storeStatus(&h->tp_status, TP_STATUS_KERNEL);
        rxNext_ = (rxNext_ + 1) % rxFrames_;
    }
    // Occupancy as found, at least: the frames this turn took from the ring.
    stats_.rxUsed.store(seen, std::memory_order_relaxed);
    return got;
}

void PacketRingPort::reclaimTx() noexcept
{
    while (txTail_ != txHead_) {
        auto *h = reinterpret_cast<tpacket2_hdr *>(tx_ + std::size_t(txTail_ % txFrames_) * txFrameSize_);
        std::uint32_t status = loadStatus(&h->tp_status);
        if (status != TP_STATUS_AVAILABLE && status != TP_STATUS_WRONG_FORMAT)
            break;
        ++txTail_;
    }
}

unsigned PacketRingPort::transmit(FramePool &pool, const std::uint32_t *frames, unsigned n) noexcept
{
    reclaimTx();
    unsigned taken = 0;
    for (; taken < n; ++taken) {
        if (txHead_ - txTail_ >= txFrames_)
            break; // every slot is still with the kernel
        auto *h = reinterpret_cast<tpacket2_hdr *>(tx_ + std::size_t(txHead_ % txFrames_) * txFrameSize_);
        FrameView v = pool.view(frames[taken]);
        if (v.length > txFrameSize_ - txDataOffset)
            continue;
        std::memcpy(reinterpret_cast<std::uint8_t *>(h) + txDataOffset, v.data(), v.length);
        h->tp_len = v.length;
        h->tp_snaplen = v.length;
        storeStatus(&h->tp_status, TP_STATUS_SEND_REQUEST);
        ++txHead_;
    }
    if (taken)
        ::sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0);
    stats_.txUsed.store(txHead_ - txTail_, std::memory_order_relaxed);
    return taken;
}

std::uint64_t PacketRingPort::kernelDrops()
{
    tpacket_stats st{};
    socklen_t len = sizeof(st);
    if (fd_ >= 0 && ::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
        kernelDrops_ += st.tp_drops;
    return kernelDrops_;
}

} // namespace meshd::forward
