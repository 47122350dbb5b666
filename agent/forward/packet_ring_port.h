// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "mesh_port.h"

#include <cstddef>
#include <cstdint>

namespace meshd::forward {

struct PacketRingOptions {
    std::uint32_t rxBlockSize = 256 << 10; // RX ring block: a multiple of the page and frame sizes
    std::uint32_t rxBlocks = 16;           // 4 MiB of RX ring: 2048 slots for a 1406-byte MTU
    std::uint32_t txFrames = 1024;         // TX ring slots (frame size follows the data room)
    // Joins PACKET_FANOUT group `fanoutId` (hash) when nonzero: every
    // worker's socket on one interface, each frame to one of them.
    std::uint16_t fanoutId = 0;
};

// One worker's AF_PACKET socket on the far end of the mesh-side veth pair:
// a TPACKET_V2 RX ring (frames are copied from their ring slot into pool
// frames and the slot goes back to the kernel at once) and a TX ring
// with qdisc bypass (frames copied into ring slots, one sendto() kick per
// batch). Frames the socket itself (or a sibling) sends are not received
// (PACKET_IGNORE_OUTGOING).
class PacketRingPort final : public MeshPort {
public:
    PacketRingPort() = default;
    ~PacketRingPort() override;

    // On interface `ifindex`, frames up to dataRoom bytes. 0 or -errno.
    int open(int ifindex, std::uint32_t dataRoom, const PacketRingOptions &options);

    int fd() const override { return fd_; }
    unsigned receive(FramePool &pool, std::uint32_t *frames, unsigned max) noexcept override;
    unsigned transmit(FramePool &pool, const std::uint32_t *frames, unsigned n) noexcept override;

    // Frames the kernel dropped because the RX ring was full
    // (PACKET_STATISTICS, which the kernel resets on each read; summed here).
    // Control plane only.
    std::uint64_t kernelDrops();

private:
    void reclaimTx() noexcept;

    int fd_ = -1;
    std::uint8_t *map_ = nullptr;
    std::size_t mapSize_ = 0;
    std::uint32_t dataRoom_ = 0;

    std::uint8_t *rx_ = nullptr;
    std::uint32_t rxFrameSize_ = 0;
    std::uint32_t rxFrames_ = 0;
    std::uint32_t rxNext_ = 0; // the slot to read next

    std::uint8_t *tx_ = nullptr;
    std::uint32_t txFrameSize_ = 0;
    std::uint32_t txFrames_ = 0;
    std::uint32_t txHead_ = 0; // next slot to fill (free-running)
    std::uint32_t txTail_ = 0; // oldest slot not seen given back

    std::uint64_t kernelDrops_ = 0;
};

} // namespace meshd::forward
