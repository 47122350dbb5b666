// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "dump.h"
#include "tables.h"

struct nl_sock;
struct nl_msg;

namespace batman {

// A generic netlink connection to the batadv family. Calls block until the
// kernel has answered; each returns 0 or -errno (-ENOENT: the family or
// the table is not there, -ENODEV: no such batman-adv mesh interface).
class Netlink {
public:
    Netlink() = default;
    ~Netlink();
    Netlink(const Netlink &) = delete;
    Netlink &operator=(const Netlink &) = delete;

    int open();
    bool isOpen() const { return sock_ != nullptr; }

    int getMesh(int meshIfindex, MeshInfo &out);
    // Routing algorithms the running batman-adv offers ("BATMAN_IV", ...).
    int routingAlgorithms(std::vector<std::string> &out);
    int originators(int meshIfindex, std::vector<OriginatorEntry> &out, DumpStats *stats = nullptr);
    int neighbors(int meshIfindex, std::vector<NeighborEntry> &out, DumpStats *stats = nullptr);
    int hardifs(int meshIfindex, std::vector<HardifEntry> &out, DumpStats *stats = nullptr);
    int gateways(int meshIfindex, std::vector<GatewayEntry> &out, DumpStats *stats = nullptr);
    int localTranslations(int meshIfindex, std::vector<LocalTranslation> &out,
                          DumpStats *stats = nullptr);
    int globalTranslations(int meshIfindex, std::vector<GlobalTranslation> &out,
                           DumpStats *stats = nullptr);
    int claims(int meshIfindex, std::vector<ClaimEntry> &out, DumpStats *stats = nullptr);
    int backbones(int meshIfindex, std::vector<BackboneEntry> &out, DumpStats *stats = nullptr);
    int dat(int meshIfindex, std::vector<DatEntry> &out, DumpStats *stats = nullptr);

    // Starts batman-adv's throughput meter towards an originator. The
    // result arrives later on the "tpmeter" multicast group with `cookie`.
    int startTpMeter(int meshIfindex, const Mac &originator, std::uint32_t testTimeMs,
                     std::uint32_t &cookie);

    int cancelTpMeter(int meshIfindex, const Mac &originator);

    int multicastFlags(int meshIfindex, std::vector<McastEntry> &out, DumpStats *stats = nullptr);
    // AP isolation of a VLAN on top of the mesh interface (vid without the tagged bit).
    int getVlan(int meshIfindex, std::uint16_t vid, bool &apIsolation);
    int setVlan(int meshIfindex, std::uint16_t vid, bool apIsolation);

    // SET_MESH / SET_HARDIF with settings named as in settings.h, in
    // meshd's units. -EINVAL for a name or value the driver cannot map.
    int setMesh(int meshIfindex, const std::map<std::string, SettingValue> &values);
    int setHardif(int meshIfindex, int hardifIndex,
                  const std::map<std::string, SettingValue> &values);

private:
    using Fill = std::function<int(nl_msg *)>; // 0 or -errno
    using OnEntry = std::function<void(nlattr **tb)>;
    // One request; `onEntry` sees each reply's validated attributes.
    int transact(int cmd, bool dump, int meshIfindex, const Fill &fill, const OnEntry &onEntry,
                 DumpStats *stats, bool *interrupted);
    template <typename T, typename Parse, typename Key>
    int dumpTable(int cmd, int meshIfindex, std::vector<T> &out, DumpStats *stats, Parse parse,
                  Key key);

    // Sends a dump request and parses its replies in place.
    int dump(int cmd, int meshIfindex, DumpStats *stats, const DumpReader::OnEntry &onEntry,
             bool &interrupted);

    nl_sock *sock_ = nullptr;
    int family_ = 0;
    DumpReader reader_;
};

// Interface name of an ifindex in this network namespace ("" if gone).
std::string interfaceName(unsigned ifindex);

} // namespace batman
