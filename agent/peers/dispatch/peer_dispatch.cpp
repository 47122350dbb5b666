// SPDX-License-Identifier: GPL-2.0-or-later
#include "peer_dispatch.h"

#include <algorithm>

namespace meshd {

bool PeerInfo::has(const std::string &capability) const
{
    return std::find(capabilities.begin(), capabilities.end(), capability) != capabilities.end();
}

std::string PeerDispatch::add(Client client)
{
    for (const auto &[type, handler] : client.handlers) {
        if (type < firstClientType)
            return "message type " + std::to_string(type) + " is the peer channel's own";
        if (byType_.count(type))
            return "message type " + std::to_string(type) + " is taken";
    }
    if (!client.capability.empty())
        for (const auto &c : capabilities())
            if (c == client.capability)
                return "capability \"" + client.capability + "\" is taken";
    for (const auto &[type, handler] : client.handlers)
        byType_[type] = clients_.size();
    clients_.push_back(std::move(client));
    return {};
}

std::vector<std::string> PeerDispatch::capabilities() const
{
    std::vector<std::string> out = {"hello", "keepalive"};
    for (const auto &c : clients_)
        if (!c.capability.empty())
            out.push_back(c.capability);
    return out;
}

void PeerDispatch::attach(Sender sender, Closer closer, Exporter exporter)
{
    sender_ = std::move(sender);
    closer_ = std::move(closer);
    exporter_ = std::move(exporter);
}

bool PeerDispatch::exportKeyingMaterial(std::uint64_t conn, std::string_view label,
                                        std::span<const std::uint8_t> context,
                                        std::span<std::uint8_t> out) const
{
    return exporter_ && exporter_(conn, label, context, out);
}

bool PeerDispatch::deliver(const PeerInfo &peer, std::uint8_t type,
                           std::span<const std::uint8_t> payload) const
{
    auto it = byType_.find(type);
    if (it == byType_.end())
        return false;
    const Client &c = clients_[it->second];
    c.handlers.at(type)(peer, payload);
    return true;
}

void PeerDispatch::peerUp(const PeerInfo &peer) const
{
    for (const auto &c : clients_)
        if (c.up)
            c.up(peer);
}

void PeerDispatch::peerDown(const PeerInfo &peer, const std::string &reason) const
{
    for (const auto &c : clients_)
        if (c.down)
            c.down(peer, reason);
}

bool PeerDispatch::send(std::uint64_t conn, std::uint8_t type,
                        std::span<const std::uint8_t> payload) const
{
    return sender_ && sender_(conn, type, payload);
}

void PeerDispatch::close(std::uint64_t conn, const std::string &reason) const
{
    if (closer_)
        closer_(conn, reason);
}

} // namespace meshd
