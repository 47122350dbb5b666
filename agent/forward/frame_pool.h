// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace meshd::forward {

// Room in front of the data for the 16-byte outer header, rounded up to a
// cache line so that the L2 frame itself starts cache-aligned.
inline constexpr std::uint32_t frameHeadroom = 64;
// Room after the data for the 16-byte AEAD tag.
inline constexpr std::uint32_t frameTailroom = 16;
inline constexpr std::uint32_t defaultDataRoom = 1600;
inline constexpr std::uint32_t maxDataRoom = 9216;
inline constexpr std::uint32_t maxFrames = 1u << 24;
// What acquire() returns when every frame is in use.
inline constexpr std::uint32_t noFrame = UINT32_MAX;

// A borrowed look at one frame's buffer: the bytes [offset, offset + length)
// of the `room` bytes at `head`. A plain value: copying it copies no data.
struct FrameView {
    std::uint8_t *head = nullptr;
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
    std::uint32_t room = 0;

    std::uint8_t *data() const { return head + offset; }
    std::uint8_t *end() const { return head + offset + length; }
    std::uint32_t headroom() const { return offset; }
    std::uint32_t tailroom() const { return room - offset - length; }

    // Each returns false, and changes nothing, when the room is not there.
    bool prepend(std::uint32_t n)
    {
        if (n > offset)
            return false;
        offset -= n;
        length += n;
        return true;
    }
    bool trimFront(std::uint32_t n)
    {
        if (n > length)
            return false;
        offset += n;
        length -= n;
        return true;
    }
    bool append(std::uint32_t n)
    {
        if (n > tailroom())
            return false;
        length += n;
        return true;
    }
    bool trimBack(std::uint32_t n)
    {
        if (n > length)
            return false;
        length -= n;
        return true;
    }
};

// A fixed set of frame buffers in one page-aligned block, allocated once by
// init(). Frames are named by a 32-bit index so that rings pass 4 bytes per
// frame. The free stack has a single owner and no synchronisation: one pool
// per worker. Other threads may read and write a frame's bytes and its saved
// view (view()/save()) while they hold its index, i.e. between a ring pop and
// the push that hands it back; the ring orders those accesses.
class FramePool {
public:
    FramePool(std::uint32_t count, std::uint32_t dataRoom = defaultDataRoom);
    ~FramePool();
    FramePool(const FramePool &) = delete;
    FramePool &operator=(const FramePool &) = delete;

    // Allocates the block: 0, -EINVAL for a count or data room out of
    // range, -ENOMEM.
    int init();
    bool isValid() const { return block_ != nullptr; }

    // An index whose view is reset to an empty frame at the headroom, or
    // noFrame when every frame is in use.
    std::uint32_t acquire() noexcept
    {
        if (free_ == 0)
            return noFrame;
        std::uint32_t idx = stack_[--free_];
        inUseMap_[idx] = 1;
        meta_[idx] = {frameHeadroom, 0};
        return idx;
    }
    // 0, or -EINVAL for an index out of range, or (debug builds) -EALREADY
    // for a frame that is not in use.
    int release(std::uint32_t idx) noexcept
    {
        if (idx >= count_)
            return -EINVAL;
#ifndef NDEBUG
        if (!inUseMap_[idx])
            return -EALREADY;
#endif
        inUseMap_[idx] = 0;
        stack_[free_++] = idx;
        return 0;
    }

    // The frame's buffer with the offset and length last saved for it.
    FrameView view(std::uint32_t idx) const noexcept
    {
        return {block_ + std::size_t(idx) * stride_, meta_[idx].offset, meta_[idx].length, room_};
    }
    // Remembers a view's offset and length, for the next holder of the index.
    void save(std::uint32_t idx, const FrameView &v) noexcept { meta_[idx] = {v.offset, v.length}; }

    std::uint32_t inUse() const { return count_ - free_; }
    std::uint32_t available() const { return free_; }
    std::uint32_t capacity() const { return count_; }
    std::uint32_t dataRoom() const { return dataRoom_; }
    // Bytes from one frame's head to the next: headroom + data + tailroom,
    // rounded up to a cache line.
    std::size_t stride() const { return stride_; }
    const std::uint8_t *block() const { return block_; }

private:
    struct Meta {
        std::uint32_t offset;
        std::uint32_t length;
    };

    std::uint32_t count_;
    std::uint32_t dataRoom_;
    std::uint32_t room_ = 0;
    std::size_t stride_ = 0;
    std::size_t mapped_ = 0;
    std::uint8_t *block_ = nullptr;
    std::unique_ptr<std::uint32_t[]> stack_;
    std::unique_ptr<Meta[]> meta_;
    // Which frames are out, checked by release() in debug builds only; always
    // present so that the layout does not depend on NDEBUG.
    std::unique_ptr<std::uint8_t[]> inUseMap_;
    std::uint32_t free_ = 0;
};

} // namespace meshd::forward
