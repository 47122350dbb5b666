// SPDX-License-Identifier: GPL-2.0-or-later
#include "frame_pool.h"

#include "cache_line.h"

#include <cerrno>
#include <new>
#include <sys/mman.h>
#include <unistd.h>

namespace meshd::forward {

namespace {
std::size_t roundUp(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
} // namespace

FramePool::FramePool(std::uint32_t count, std::uint32_t dataRoom)
    : count_(count), dataRoom_(dataRoom)
{
}

FramePool::~FramePool()
{
    if (block_)
        ::munmap(block_, mapped_);
}

int FramePool::init()
{
    if (block_)
        return -EALREADY;
    if (count_ == 0 || count_ > maxFrames || dataRoom_ == 0 || dataRoom_ > maxDataRoom)
        return -EINVAL;
    room_ = frameHeadroom + dataRoom_ + frameTailroom;
    stride_ = roundUp(room_, cacheLineSize);
    long page = ::sysconf(_SC_PAGESIZE);
    mapped_ = roundUp(stride_ * count_, page > 0 ? std::size_t(page) : 4096);

    stack_.reset(new (std::nothrow) std::uint32_t[count_]);
    meta_.reset(new (std::nothrow) Meta[count_]);
    inUseMap_.reset(new (std::nothrow) std::uint8_t[count_]());
    if (!stack_ || !meta_ || !inUseMap_)
        return -ENOMEM;
    // mmap gives a page-aligned block whose pages are touched lazily.
    void *p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    block_ = static_cast<std::uint8_t *>(p);
    // Lowest index on top, so that a lightly loaded worker reuses a few hot frames.
    for (std::uint32_t i = 0; i < count_; ++i) {
        stack_[i] = count_ - 1 - i;
        meta_[i] = {frameHeadroom, 0};
    }
    free_ = count_;
    return 0;
}

} // namespace meshd::forward
