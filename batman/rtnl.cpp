// SPDX-License-Identifier: GPL-2.0-or-later
#include "rtnl.h"

#include <net/if.h> // first: linux/if_link.h must not pull linux/if.h before it
#include <cerrno>
#include <cstring>
#include <linux/batman_adv.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <memory>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "request.h"

namespace batman {

bool parseLinkReply(nl_msg *msg, LinkInfo &out)
{
    nlmsghdr *hdr = nlmsg_hdr(msg);
    if (hdr->nlmsg_type != RTM_NEWLINK)
        return false;
    nlattr *tb[IFLA_MAX + 1];
    if (nlmsg_parse(hdr, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0)
        return false;
    LinkInfo parsed;
    auto *ifi = static_cast<ifinfomsg *>(nlmsg_data(hdr));
    parsed.ifindex = static_cast<unsigned>(ifi->ifi_index);
    parsed.up = ifi->ifi_flags & IFF_UP;
    parsed.lowerUp = ifi->ifi_flags & 0x10000; // IFF_LOWER_UP (linux/if.h clashes with net/if.h)
    if (tb[IFLA_MASTER] && nla_len(tb[IFLA_MASTER]) >= 4)
        parsed.master = nla_get_u32(tb[IFLA_MASTER]);
    if (tb[IFLA_LINKINFO]) {
        nlattr *li[IFLA_INFO_MAX + 1];
        if (nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) == 0 &&
            li[IFLA_INFO_KIND] && nla_len(li[IFLA_INFO_KIND]) > 0) {
            const char *kind = static_cast<const char *>(nla_data(li[IFLA_INFO_KIND]));
            parsed.kind.assign(kind, strnlen(kind, static_cast<std::size_t>(nla_len(li[IFLA_INFO_KIND]))));
        }
    }
    out = std::move(parsed);
    return true;
}

std::optional<LinkEvents::Change> parseLinkChange(nl_msg *msg)
{
    nlmsghdr *hdr = nlmsg_hdr(msg);
    if (hdr->nlmsg_type != RTM_NEWLINK && hdr->nlmsg_type != RTM_DELLINK)
        return std::nullopt;
    nlattr *tb[IFLA_MAX + 1];
    if (nlmsg_parse(hdr, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0)
        return std::nullopt;
    auto *ifi = static_cast<ifinfomsg *>(nlmsg_data(hdr));
    LinkEvents::Change c;
    c.ifindex = static_cast<unsigned>(ifi->ifi_index);
    c.removed = hdr->nlmsg_type == RTM_DELLINK;
    c.up = ifi->ifi_flags & IFF_UP;
    if (tb[IFLA_IFNAME] && nla_len(tb[IFLA_IFNAME]) > 0) {
        const char *name = static_cast<const char *>(nla_data(tb[IFLA_IFNAME]));
        c.name.assign(name, strnlen(name, static_cast<std::size_t>(nla_len(tb[IFLA_IFNAME]))));
    }
    if (tb[IFLA_MASTER] && nla_len(tb[IFLA_MASTER]) >= 4)
        c.master = nla_get_u32(tb[IFLA_MASTER]);
    return c;
}

namespace {

using MsgPtr = std::unique_ptr<nl_msg, decltype(&nlmsg_free)>;
using SockPtr = std::unique_ptr<nl_sock, decltype(&nl_socket_free)>;

void readLink(nl_msg *msg, LinkInfo *info)
{
    if (info)
        (void)parseLinkReply(msg, *info);
}

// Sends one request and waits for its answer.
int transact(nl_msg *msg, LinkInfo *info = nullptr)
{
    SockPtr sock(nl_socket_alloc(), nl_socket_free);
    if (!sock)
        return -ENOMEM;
    if (nl_connect(sock.get(), NETLINK_ROUTE) < 0)
        return -EIO;
    return request(sock.get(), msg, [&](nl_msg *reply) { readLink(reply, info); });
}

MsgPtr linkMessage(int type, int flags, int ifindex)
{
    MsgPtr msg(nlmsg_alloc_simple(type, NLM_F_REQUEST | NLM_F_ACK | flags), nlmsg_free);
    if (!msg)
        return msg;
    ifinfomsg ifi = {};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    if (nlmsg_append(msg.get(), &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
        msg.reset();
    return msg;
}

int indexOf(const std::string &name)
{
    unsigned idx = if_nametoindex(name.c_str());
    return idx ? static_cast<int>(idx) : -ENODEV;
}

} // namespace

std::optional<LinkInfo> linkInfo(const std::string &name)
{
    int idx = indexOf(name);
    if (idx < 0)
        return std::nullopt;
    MsgPtr msg = linkMessage(RTM_GETLINK, 0, idx);
    if (!msg)
        return std::nullopt;
    LinkInfo info;
    if (transact(msg.get(), &info) < 0 || !info.ifindex)
        return std::nullopt;
    return info;
}

int createMeshInterface(const std::string &name, const std::string &algorithm)
{
    MsgPtr msg = linkMessage(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
    if (!msg)
        return -ENOMEM;
    if (nla_put_string(msg.get(), IFLA_IFNAME, name.c_str()) < 0)
        return -EMSGSIZE;
    nlattr *linkinfo = nla_nest_start(msg.get(), IFLA_LINKINFO);
    if (!linkinfo || nla_put_string(msg.get(), IFLA_INFO_KIND, "batadv") < 0)
        return -EMSGSIZE;
    nlattr *data = nla_nest_start(msg.get(), IFLA_INFO_DATA);
    if (!data || nla_put_string(msg.get(), IFLA_BATADV_ALGO_NAME, algorithm.c_str()) < 0)
        return -EMSGSIZE;
    nla_nest_end(msg.get(), data);
    nla_nest_end(msg.get(), linkinfo);
    return transact(msg.get());
}

int deleteLink(const std::string &name)
{
    int idx = indexOf(name);
    if (idx < 0)
        return idx;
    MsgPtr msg = linkMessage(RTM_DELLINK, 0, idx);
    return msg ? transact(msg.get()) : -ENOMEM;
}

int setMaster(const std::string &hardif, const std::string &master)
{
    int idx = indexOf(hardif);
    if (idx < 0)
        return idx;
    int masterIdx = 0;
    if (!master.empty() && (masterIdx = indexOf(master)) < 0)
        return masterIdx;
    MsgPtr msg = linkMessage(RTM_NEWLINK, 0, idx);
    if (!msg)
        return -ENOMEM;
    if (nla_put_u32(msg.get(), IFLA_MASTER, static_cast<std::uint32_t>(masterIdx)) < 0)
        return -EMSGSIZE;
    return transact(msg.get());
}

int setUp(const std::string &name, bool up)
{
    int idx = indexOf(name);
    if (idx < 0)
        return idx;
    MsgPtr msg(nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK), nlmsg_free);
    if (!msg)
        return -ENOMEM;
    ifinfomsg ifi = {};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = idx;
    ifi.ifi_flags = up ? IFF_UP : 0;
    ifi.ifi_change = IFF_UP;
    if (nlmsg_append(msg.get(), &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
        return -ENOMEM;
    return transact(msg.get());
}

LinkEvents::~LinkEvents()
{
    if (sock_)
        nl_socket_free(sock_);
}

int LinkEvents::open()
{
    sock_ = nl_socket_alloc();
    if (!sock_)
        return -ENOMEM;
    nl_socket_disable_seq_check(sock_);
    if (nl_connect(sock_, NETLINK_ROUTE) < 0 || nl_socket_add_membership(sock_, RTNLGRP_LINK) < 0 ||
        nl_socket_set_nonblocking(sock_) < 0) {
        nl_socket_free(sock_);
        sock_ = nullptr;
        return -EIO;
    }
    return 0;
}

int LinkEvents::fd() const { return sock_ ? nl_socket_get_fd(sock_) : -1; }

namespace {

struct DrainContext {
    const std::function<void(const LinkEvents::Change &)> *onChange;
};

int onLinkEvent(nl_msg *msg, void *arg)
{
    auto *ctx = static_cast<DrainContext *>(arg);
    if (std::optional<LinkEvents::Change> c = parseLinkChange(msg))
        (*ctx->onChange)(*c);
    return NL_OK; // malformed or not a link message: nothing to act on
}

} // namespace

int LinkEvents::drain(const std::function<void(const Change &)> &onChange)
{
    if (!sock_)
        return -ENOTCONN;
    DrainContext ctx{&onChange};
    std::unique_ptr<nl_cb, decltype(&nl_cb_put)> cb(nl_cb_alloc(NL_CB_DEFAULT), nl_cb_put);
    if (!cb)
        return -ENOMEM;
    nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, onLinkEvent, &ctx);
    // Notifications carry no sequence numbers of ours.
    nl_cb_set(
        cb.get(), NL_CB_SEQ_CHECK, NL_CB_CUSTOM, [](nl_msg *, void *) { return static_cast<int>(NL_OK); },
        nullptr);
    for (;;) {
        int err = nl_recvmsgs(sock_, cb.get());
        if (err == -NLE_AGAIN)
            return 0;
        if (err < 0)
            return err == -NLE_NOMEM ? -ENOBUFS : -EIO; // ENOBUFS: events were lost
    }
}

} // namespace batman
