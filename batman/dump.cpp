// SPDX-License-Identifier: GPL-2.0-or-later
#include "dump.h"

#include <cerrno>
#include <linux/batman_adv.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attrs.h"

namespace batman {

namespace {
// The kernel sizes dump datagrams after the largest buffer a reader has
// offered on the socket (at most about 32 KiB). 16 KiB holds about a
// hundred originator entries: few system calls, and short turns. But
// libnl offers four pages when it reads (genl_ctrl_resolve, requests), so
// on kernels with pages over 4 KiB datagrams can reach the 32 KiB cap.
std::size_t receiveLength()
{
    static const std::size_t len = sysconf(_SC_PAGESIZE) > 4096 ? 32 * 1024 : 16 * 1024;
    return len;
}
constexpr std::size_t bufferSize = 32 * 1024;
} // namespace

DumpReader::DumpReader() : buf_(new char[bufferSize]) {}

DumpReader::~DumpReader() = default;

void DumpReader::begin(int fd, std::uint32_t seq)
{
    fd_ = fd;
    seq_ = seq;
    error_ = 0;
    interrupted_ = false;
    stats_ = {};
}

DumpReader::Progress DumpReader::pump(Clock::time_point deadline, const OnEntry &onEntry)
{
    for (bool first = true;; first = false) {
        // One datagram at least per call, then only while time is left.
        if (!first && Clock::now() >= deadline)
            return Progress::More;
        ssize_t n = recv(fd_, buf_.get(), receiveLength(), MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return Progress::More;
            error_ = -errno; // ENOBUFS: replies were lost
            return Progress::Done;
        }
        if (n == 0) {
            error_ = -EIO;
            return Progress::Done;
        }
        if (static_cast<std::size_t>(n) > receiveLength()) {
            error_ = -EMSGSIZE;
            return Progress::Done;
        }
        stats_.datagrams++;
        if (parse(buf_.get(), static_cast<std::size_t>(n), onEntry))
            return Progress::Done;
    }
}

bool DumpReader::parse(const char *data, std::size_t size, const OnEntry &onEntry)
{
    int len = static_cast<int>(size);
    for (auto *h = reinterpret_cast<const nlmsghdr *>(data); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_seq != seq_)
            continue; // a late reply to an abandoned request
        if (h->nlmsg_flags & NLM_F_DUMP_INTR)
            interrupted_ = true;
        if (h->nlmsg_type == NLMSG_DONE) {
            if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
                int status = *static_cast<const int *>(NLMSG_DATA(h));
                if (status < 0)
                    error_ = status;
            }
            return true;
        }
        if (h->nlmsg_type == NLMSG_ERROR) {
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr)))
                error_ = -EIO;
            else
                error_ = static_cast<const nlmsgerr *>(NLMSG_DATA(h))->error;
            return true;
        }
        if (h->nlmsg_type < NLMSG_MIN_TYPE)
            continue; // NOOP, OVERRUN
        stats_.messages++;
        nlattr *tb[BATADV_ATTR_MAX + 1];
        if (genlmsg_parse(const_cast<nlmsghdr *>(h), 0, tb, attributeMax(),
                          const_cast<nla_policy *>(attributePolicy())) < 0) {
            stats_.badEntries++;
            continue;
        }
        onEntry(tb);
    }
    if (len > 0)
        stats_.badEntries++; // a truncated message at the end of the datagram
    return false;
}

DumpStream::~DumpStream() { close(); }

void DumpStream::close()
{
    if (sock_)
        nl_socket_free(sock_);
    sock_ = nullptr;
}

int DumpStream::open()
{
    close();
    sock_ = nl_socket_alloc();
    if (!sock_)
        return -ENOMEM;
    if (genl_connect(sock_) < 0) {
        close();
        return -EIO;
    }
    int id = genl_ctrl_resolve(sock_, BATADV_NL_NAME);
    if (id < 0) {
        close();
        return id == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;
    }
    family_ = id;
    nl_socket_set_buffer_size(sock_, 1 << 20, 0);
    nl_socket_set_nonblocking(sock_);
    return 0;
}

int DumpStream::fd() const { return sock_ ? nl_socket_get_fd(sock_) : -1; }

int startDump(nl_sock *sock, int family, int cmd, int meshIfindex, DumpReader &reader)
{
    if (!sock)
        return -ENOTCONN;
    std::unique_ptr<nl_msg, decltype(&nlmsg_free)> msg(nlmsg_alloc(), nlmsg_free);
    if (!msg)
        return -ENOMEM;
    if (!genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_DUMP,
                     static_cast<std::uint8_t>(cmd), 1) ||
        nla_put_u32(msg.get(), BATADV_ATTR_MESH_IFINDEX, static_cast<std::uint32_t>(meshIfindex)) <
            0)
        return -ENOMEM;
    if (nl_send_auto(sock, msg.get()) < 0)
        return -EIO;
    reader.begin(nl_socket_get_fd(sock), nlmsg_hdr(msg.get())->nlmsg_seq);
    return 0;
}

int DumpStream::start(int cmd, int meshIfindex)
{
    return startDump(sock_, family_, cmd, meshIfindex, reader_);
}

} // namespace batman
