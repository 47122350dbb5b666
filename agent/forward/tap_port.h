// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "mesh_port.h"

#include <string>

namespace meshd::forward {

// One queue of a multi-queue TAP (IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE on
// /dev/net/tun), non-blocking. The first queue opened creates the interface;
// every further queue with the same name attaches to it; the interface goes
// away with the last queue (it is not persistent). A TAP has no batch call:
// one read() or write() per frame.
class TapPort final : public MeshPort {
public:
    TapPort() = default;
    ~TapPort() override;

    // 0 or -errno (-EBUSY: a non-TAP interface or one without multi-queue
    // has the name).
    int open(const std::string &name);

    int fd() const override { return fd_; }
    unsigned receive(FramePool &pool, std::uint32_t *frames, unsigned max) noexcept override;
    unsigned transmit(FramePool &pool, const std::uint32_t *frames, unsigned n) noexcept override;

private:
    int fd_ = -1;
};

} // namespace meshd::forward
