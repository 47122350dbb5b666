// SPDX-License-Identifier: GPL-2.0-or-later
#include "link_netlink.h"

#include <cerrno>
#include <cstring>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace meshd::forward::link {

namespace {

// One request built in a fixed buffer: nested attributes are opened with
// begin() and closed with end().
class Request {
public:
    Request(std::uint16_t type, std::uint16_t flags)
    {
        hdr()->nlmsg_len = NLMSG_LENGTH(0);
        hdr()->nlmsg_type = type;
        hdr()->nlmsg_flags = std::uint16_t(NLM_F_REQUEST | NLM_F_ACK | flags);
        hdr()->nlmsg_seq = 1;
    }
    nlmsghdr *hdr() { return reinterpret_cast<nlmsghdr *>(buf_); }
    bool ok() const { return ok_; }

    void *put(const void *data, std::size_t len)
    {
        std::size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
        if (at + NLMSG_ALIGN(len) > sizeof(buf_)) {
            ok_ = false;
            return nullptr;
        }
        std::memset(buf_ + at, 0, NLMSG_ALIGN(len));
        if (data)
            std::memcpy(buf_ + at, data, len);
        hdr()->nlmsg_len = std::uint32_t(at + len);
        return buf_ + at;
    }
    void attr(std::uint16_t type, const void *data, std::size_t len)
    {
        rtattr a{};
        a.rta_len = std::uint16_t(RTA_LENGTH(len));
        a.rta_type = type;
        put(&a, sizeof(a));
        if (len)
            put(data, len);
        else
            hdr()->nlmsg_len = NLMSG_ALIGN(hdr()->nlmsg_len);
    }
    void attr(std::uint16_t type, const std::string &s) { attr(type, s.c_str(), s.size() + 1); }
    void attrU32(std::uint16_t type, std::uint32_t v) { attr(type, &v, sizeof(v)); }
    void attrU8(std::uint16_t type, std::uint8_t v) { attr(type, &v, sizeof(v)); }
    std::size_t begin(std::uint16_t type)
    {
        std::size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
        attr(type, nullptr, 0);
        return at;
    }
    void end(std::size_t at)
    {
        auto *a = reinterpret_cast<rtattr *>(buf_ + at);
        a->rta_len = std::uint16_t(hdr()->nlmsg_len - at);
    }

    int send()
    {
        if (!ok_)
            return -EMSGSIZE;
        int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
            return -errno;
        sockaddr_nl to{};
        to.nl_family = AF_NETLINK;
        int rc = 0;
        if (::sendto(fd, buf_, hdr()->nlmsg_len, 0, reinterpret_cast<sockaddr *>(&to), sizeof(to)) < 0) {
            rc = -errno;
        } else {
            alignas(nlmsghdr) char reply[4096];
            ssize_t n = ::recv(fd, reply, sizeof(reply), 0);
            if (n < 0) {
                rc = -errno;
            } else {
                rc = -EPROTO;
                auto *h = reinterpret_cast<nlmsghdr *>(reply);
                int len = int(n);
                for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
                    if (h->nlmsg_type == NLMSG_ERROR) {
                        rc = static_cast<nlmsgerr *>(NLMSG_DATA(h))->error;
                        break;
                    }
                }
            }
        }
        ::close(fd);
        return rc;
    }

private:
    alignas(nlmsghdr) char buf_[1024]{};
    bool ok_ = true;
};

} // namespace

int createVeth(const std::string &name, const std::string &peer, std::uint32_t mtu)
{
    if (name.empty() || name.size() >= IFNAMSIZ || peer.empty() || peer.size() >= IFNAMSIZ)
        return -EINVAL;
    Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    req.put(&ifi, sizeof(ifi));
    req.attr(IFLA_IFNAME, name);
    req.attrU32(IFLA_MTU, mtu);
    std::size_t info = req.begin(IFLA_LINKINFO);
    req.attr(IFLA_INFO_KIND, "veth", 4);
    std::size_t data = req.begin(IFLA_INFO_DATA);
    std::size_t peerAt = req.begin(VETH_INFO_PEER);
    req.put(&ifi, sizeof(ifi));
    req.attr(IFLA_IFNAME, peer);
    req.attrU32(IFLA_MTU, mtu);
    req.end(peerAt);
    req.end(data);
    req.end(info);
    return req.send();
}

int changeLink(int ifindex, const LinkChange &change)
{
    Request req(RTM_NEWLINK, 0);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    if (change.up) {
        ifi.ifi_flags = IFF_UP;
        ifi.ifi_change = IFF_UP;
    }
    req.put(&ifi, sizeof(ifi));
    if (change.mtu)
        req.attrU32(IFLA_MTU, change.mtu);
    if (change.mac)
        req.attr(IFLA_ADDRESS, change.mac->data(), change.mac->size());
    if (change.noLinkLocal) {
        std::size_t spec = req.begin(IFLA_AF_SPEC);
        std::size_t inet6 = req.begin(AF_INET6);
        req.attrU8(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
        req.end(inet6);
        req.end(spec);
    }
    return req.send();
}

int deleteLink(int ifindex)
{
    Request req(RTM_DELLINK, 0);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    req.put(&ifi, sizeof(ifi));
    return req.send();
}

int linkIndex(const std::string &name)
{
    unsigned index = ::if_nametoindex(name.c_str());
    return index ? int(index) : -errno;
}

int disableTxChecksum(const std::string &name)
{
    if (name.size() >= IFNAMSIZ)
        return -EINVAL;
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = 0;
    for (std::uint32_t cmd : {std::uint32_t(ETHTOOL_STXCSUM), std::uint32_t(ETHTOOL_STSO)}) {
        ethtool_value value{};
        value.cmd = cmd;
        value.data = 0;
        ifreq ifr{};
        std::memcpy(ifr.ifr_name, name.c_str(), name.size());
        ifr.ifr_data = reinterpret_cast<char *>(&value);
        if (::ioctl(fd, SIOCETHTOOL, &ifr) < 0 && rc == 0)
            rc = -errno;
    }
    ::close(fd);
    return rc;
}

int linkMac(const std::string &name, Mac &out)
{
    if (name.size() >= IFNAMSIZ)
        return -EINVAL;
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name.c_str(), name.size());
    int rc = ::ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 ? -errno : 0;
    ::close(fd);
    if (rc == 0)
        std::memcpy(out.data(), ifr.ifr_hwaddr.sa_data, out.size());
    return rc;
}

} // namespace meshd::forward::link
