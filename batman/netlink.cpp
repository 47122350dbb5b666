// SPDX-License-Identifier: GPL-2.0-or-later
#include "netlink.h"

#include <algorithm>
#include <cerrno>
#include <linux/batman_adv.h>
#include <map>
#include <memory>
#include <tuple>
#include <net/if.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <set>

#include "attrs.h"
#include "request.h"

namespace batman {

namespace {

// Fills hardif names the kernel left out, with one lookup per ifindex.
template <typename T> void nameHardifs(std::vector<T> &rows)
{
    std::map<std::uint32_t, std::string> names;
    for (auto &r : rows) {
        if (!r.hardif.empty())
            continue;
        auto it = names.find(r.hardifIndex);
        if (it == names.end())
            it = names.emplace(r.hardifIndex, interfaceName(r.hardifIndex)).first;
        r.hardif = it->second;
    }
}

} // namespace

std::string interfaceName(unsigned ifindex)
{
    char name[IF_NAMESIZE];
    return if_indextoname(ifindex, name) ? name : "";
}

Netlink::~Netlink()
{
    if (sock_)
        nl_socket_free(sock_);
}

int Netlink::open()
{
    sock_ = nl_socket_alloc();
    if (!sock_)
        return -ENOMEM;
    if (genl_connect(sock_) < 0) {
        nl_socket_free(sock_);
        sock_ = nullptr;
        return -EIO;
    }
    nl_socket_set_buffer_size(sock_, 1 << 20, 0);
    int id = genl_ctrl_resolve(sock_, BATADV_NL_NAME);
    if (id < 0) {
        nl_socket_free(sock_);
        sock_ = nullptr;
        return id == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;
    }
    family_ = id;
    return 0;
}

int Netlink::transact(int cmd, bool dump, int meshIfindex, const Fill &fill,
                      const OnEntry &onEntry, DumpStats *stats, bool *interrupted)
{
    if (!sock_)
        return -ENOTCONN;
    std::unique_ptr<nl_msg, decltype(&nlmsg_free)> msg(nlmsg_alloc(), nlmsg_free);
    if (!msg)
        return -ENOMEM;
    if (!genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family_, 0,
                     dump ? NLM_F_DUMP : NLM_F_ACK, static_cast<std::uint8_t>(cmd), 1))
        return -ENOMEM;
    if (meshIfindex > 0 &&
        nla_put_u32(msg.get(), BATADV_ATTR_MESH_IFINDEX, static_cast<std::uint32_t>(meshIfindex)) <
            0)
        return -EMSGSIZE;
    if (fill)
        if (int err = fill(msg.get()); err < 0)
            return err;

    return request(
        sock_, msg.get(),
        [&](nl_msg *reply) {
            if (stats)
                stats->messages++;
            nlattr *tb[BATADV_ATTR_MAX + 1];
            if (genlmsg_parse(nlmsg_hdr(reply), 0, tb, attributeMax(),
                              const_cast<nla_policy *>(attributePolicy())) < 0) {
                if (stats)
                    stats->badEntries++;
                return;
            }
            onEntry(tb);
        },
        interrupted);
}

int Netlink::dump(int cmd, int meshIfindex, DumpStats *stats, const DumpReader::OnEntry &onEntry,
                  bool &interrupted)
{
    if (int err = startDump(sock_, family_, cmd, meshIfindex, reader_); err < 0)
        return err;
    // The socket blocks, so this returns only when the dump has ended.
    while (reader_.pump(DumpReader::Clock::time_point::max(), onEntry) ==
           DumpReader::Progress::More) {
    }
    if (stats) {
        stats->messages += reader_.stats().messages;
        stats->badEntries += reader_.stats().badEntries;
        stats->datagrams += reader_.stats().datagrams;
    }
    interrupted = reader_.interrupted();
    return reader_.error();
}

template <typename T, typename Parse, typename Key>
int Netlink::dumpTable(int cmd, int meshIfindex, std::vector<T> &out, DumpStats *stats,
                       Parse parse, Key key)
{
    for (int attempt = 0;; attempt++) {
        out.clear();
        bool interrupted = false;
        int err = dump(
            cmd, meshIfindex, stats,
            [&](nlattr **tb) {
                if (auto row = parse(tb))
                    out.push_back(std::move(*row));
                else if (stats)
                    stats->badEntries++;
            },
            interrupted);
        if (err < 0)
            return err;
        if (interrupted && attempt < 3) {
            if (stats)
                stats->retries++;
            continue;
        }
        break;
    }
    // Some dumps may repeat entries when the table changes underneath; keep the first.
    // Sorted (key, position) pairs find them in one allocation.
    using K = decltype(key(out.front()));
    std::vector<std::pair<K, std::size_t>> keys;
    keys.reserve(out.size());
    for (std::size_t i = 0; i < out.size(); i++)
        keys.emplace_back(key(out[i]), i);
    std::sort(keys.begin(), keys.end());
    std::vector<bool> drop(out.size());
    std::size_t dropped = 0;
    for (std::size_t i = 1; i < keys.size(); i++)
        if (keys[i].first == keys[i - 1].first) {
            drop[keys[i].second] = true; // the same key sorts by position: keep the first
            dropped++;
        }
    if (dropped) {
        std::size_t w = 0;
        for (std::size_t i = 0; i < out.size(); i++)
            if (!drop[i]) {
                if (w != i)
                    out[w] = std::move(out[i]);
                w++;
            }
        out.resize(w);
    }
    if (stats)
        stats->duplicates += static_cast<unsigned>(dropped);
    return 0;
}

namespace {

struct SettingAttr {
    const char *name;
    int attr;
    int width; // 8 or 32 bits
    std::uint64_t divisor;
};

const SettingAttr meshAttrs[] = {
    {"aggregated_ogms", BATADV_ATTR_AGGREGATED_OGMS_ENABLED, 8, 1},
    {"ap_isolation", BATADV_ATTR_AP_ISOLATION_ENABLED, 8, 1},
    {"bonding", BATADV_ATTR_BONDING_ENABLED, 8, 1},
    {"bridge_loop_avoidance", BATADV_ATTR_BRIDGE_LOOP_AVOIDANCE_ENABLED, 8, 1},
    {"distributed_arp_table", BATADV_ATTR_DISTRIBUTED_ARP_TABLE_ENABLED, 8, 1},
    {"fragmentation", BATADV_ATTR_FRAGMENTATION_ENABLED, 8, 1},
    {"gw_mode", BATADV_ATTR_GW_MODE, 8, 1},
    {"gw_bandwidth_down_kbps", BATADV_ATTR_GW_BANDWIDTH_DOWN, 32, 100},
    {"gw_bandwidth_up_kbps", BATADV_ATTR_GW_BANDWIDTH_UP, 32, 100},
    {"gw_sel_class", BATADV_ATTR_GW_SEL_CLASS, 32, 1},
    {"hop_penalty", BATADV_ATTR_HOP_PENALTY, 8, 1},
    {"isolation_mark", BATADV_ATTR_ISOLATION_MARK, 32, 1},
    {"isolation_mask", BATADV_ATTR_ISOLATION_MASK, 32, 1},
    {"log_level", BATADV_ATTR_LOG_LEVEL, 32, 1},
    {"multicast_forceflood", BATADV_ATTR_MULTICAST_FORCEFLOOD_ENABLED, 8, 1},
    {"multicast_fanout", BATADV_ATTR_MULTICAST_FANOUT, 32, 1},
    {"network_coding", BATADV_ATTR_NETWORK_CODING_ENABLED, 8, 1},
    {"orig_interval_ms", BATADV_ATTR_ORIG_INTERVAL, 32, 1},
};

const SettingAttr hardifAttrs[] = {
    {"hop_penalty", BATADV_ATTR_HOP_PENALTY, 8, 1},
    {"elp_interval_ms", BATADV_ATTR_ELP_INTERVAL, 32, 1},
    {"throughput_override_kbps", BATADV_ATTR_THROUGHPUT_OVERRIDE, 32, 100},
};

template <std::size_t N>
int putSettings(nl_msg *msg, const SettingAttr (&table)[N],
                const std::map<std::string, SettingValue> &values)
{
    for (const auto &[name, value] : values) {
        const SettingAttr *a = nullptr;
        for (const auto &t : table)
            if (name == t.name)
                a = &t;
        if (!a)
            return -EINVAL;
        std::uint64_t v;
        if (const bool *b = std::get_if<bool>(&value)) {
            v = *b;
        } else if (const std::uint64_t *n = std::get_if<std::uint64_t>(&value)) {
            v = *n / a->divisor;
        } else {
            const std::string &s = std::get<std::string>(value);
            if (a->attr != BATADV_ATTR_GW_MODE)
                return -EINVAL;
            if (s == "off")
                v = BATADV_GW_MODE_OFF;
            else if (s == "client")
                v = BATADV_GW_MODE_CLIENT;
            else if (s == "server")
                v = BATADV_GW_MODE_SERVER;
            else
                return -EINVAL;
        }
        if ((a->width == 8 && v > 0xff) || v > 0xffffffffu)
            return -ERANGE;
        int rc = a->width == 8 ? nla_put_u8(msg, a->attr, static_cast<std::uint8_t>(v))
                               : nla_put_u32(msg, a->attr, static_cast<std::uint32_t>(v));
        if (rc < 0)
            return -EMSGSIZE;
    }
    return 0;
}

} // namespace

int Netlink::setMesh(int meshIfindex, const std::map<std::string, SettingValue> &values)
{
    return transact(
        BATADV_CMD_SET_MESH, false, meshIfindex,
        [&](nl_msg *msg) { return putSettings(msg, meshAttrs, values); }, [](nlattr **) {},
        nullptr, nullptr);
}

int Netlink::setHardif(int meshIfindex, int hardifIndex,
                       const std::map<std::string, SettingValue> &values)
{
    return transact(
        BATADV_CMD_SET_HARDIF, false, meshIfindex,
        [&](nl_msg *msg) {
            if (nla_put_u32(msg, BATADV_ATTR_HARD_IFINDEX, static_cast<std::uint32_t>(hardifIndex)) <
                0)
                return -EMSGSIZE;
            return putSettings(msg, hardifAttrs, values);
        },
        [](nlattr **) {}, nullptr, nullptr);
}

int Netlink::startTpMeter(int meshIfindex, const Mac &originator, std::uint32_t testTimeMs,
                          std::uint32_t &cookie)
{
    bool got = false;
    int err = transact(
        BATADV_CMD_TP_METER, false, meshIfindex,
        [&](nl_msg *msg) {
            if (nla_put(msg, BATADV_ATTR_ORIG_ADDRESS, 6, originator.bytes.data()) < 0 ||
                nla_put_u32(msg, BATADV_ATTR_TPMETER_TEST_TIME, testTimeMs) < 0)
                return -EMSGSIZE;
            return 0;
        },
        [&](nlattr **tb) {
            if (tb[BATADV_ATTR_TPMETER_COOKIE]) {
                cookie = nla_get_u32(tb[BATADV_ATTR_TPMETER_COOKIE]);
                got = true;
            }
        },
        nullptr, nullptr);
    if (err < 0)
        return err;
    return got ? 0 : -EBADMSG;
}

int Netlink::cancelTpMeter(int meshIfindex, const Mac &originator)
{
    return transact(
        BATADV_CMD_TP_METER_CANCEL, false, meshIfindex,
        [&](nl_msg *msg) {
            return nla_put(msg, BATADV_ATTR_ORIG_ADDRESS, 6, originator.bytes.data()) < 0 ? -EMSGSIZE
                                                                                          : 0;
        },
        [](nlattr **) {}, nullptr, nullptr);
}

int Netlink::multicastFlags(int meshIfindex, std::vector<McastEntry> &out, DumpStats *stats)
{
    out.clear();
    // Not dumpTable(): the dump starts with a header about this node that
    // carries no originator and is not a bad entry.
    return transact(
        BATADV_CMD_GET_MCAST_FLAGS, true, meshIfindex, {},
        [&](nlattr **tb) {
            if (auto e = parseMcast(tb))
                out.push_back(*e);
        },
        stats, nullptr);
}

int Netlink::getVlan(int meshIfindex, std::uint16_t vid, bool &apIsolation)
{
    bool got = false;
    int err = transact(
        BATADV_CMD_GET_VLAN, false, meshIfindex,
        [&](nl_msg *msg) { return nla_put_u16(msg, BATADV_ATTR_VLANID, vid) < 0 ? -EMSGSIZE : 0; },
        [&](nlattr **tb) {
            if (tb[BATADV_ATTR_AP_ISOLATION_ENABLED]) {
                apIsolation = nla_get_u8(tb[BATADV_ATTR_AP_ISOLATION_ENABLED]) != 0;
                got = true;
            }
        },
        nullptr, nullptr);
    if (err < 0)
        return err;
    return got ? 0 : -EBADMSG;
}

int Netlink::setVlan(int meshIfindex, std::uint16_t vid, bool apIsolation)
{
    return transact(
        BATADV_CMD_SET_VLAN, false, meshIfindex,
        [&](nl_msg *msg) {
            if (nla_put_u16(msg, BATADV_ATTR_VLANID, vid) < 0 ||
                nla_put_u8(msg, BATADV_ATTR_AP_ISOLATION_ENABLED, apIsolation) < 0)
                return -EMSGSIZE;
            return 0;
        },
        [](nlattr **) {}, nullptr, nullptr);
}

int Netlink::routingAlgorithms(std::vector<std::string> &out)
{
    out.clear();
    return transact(
        BATADV_CMD_GET_ROUTING_ALGOS, true, 0, {},
        [&](nlattr **tb) {
            if (tb[BATADV_ATTR_ALGO_NAME])
                out.emplace_back(nla_get_string(tb[BATADV_ATTR_ALGO_NAME]));
        },
        nullptr, nullptr);
}

int Netlink::getMesh(int meshIfindex, MeshInfo &out)
{
    bool got = false;
    int err = transact(
        BATADV_CMD_GET_MESH, false, meshIfindex, {},
        [&](nlattr **tb) {
            if (auto m = parseMesh(tb)) {
                out = std::move(*m);
                got = true;
            }
        },
        nullptr, nullptr);
    if (err < 0)
        return err;
    return got ? 0 : -EBADMSG;
}

int Netlink::originators(int meshIfindex, std::vector<OriginatorEntry> &out, DumpStats *stats)
{
    int err = dumpTable(BATADV_CMD_GET_ORIGINATORS, meshIfindex, out, stats, parseOriginator,
                        [](const OriginatorEntry &e) {
                            return std::tuple(e.originator, e.neighbor, e.hardifIndex);
                        });
    nameHardifs(out);
    return err;
}

int Netlink::neighbors(int meshIfindex, std::vector<NeighborEntry> &out, DumpStats *stats)
{
    int err = dumpTable(BATADV_CMD_GET_NEIGHBORS, meshIfindex, out, stats, parseNeighbor,
                        [](const NeighborEntry &e) { return std::tuple(e.neighbor, e.hardifIndex); });
    nameHardifs(out);
    return err;
}

int Netlink::hardifs(int meshIfindex, std::vector<HardifEntry> &out, DumpStats *stats)
{
    int err = dumpTable(BATADV_CMD_GET_HARDIF, meshIfindex, out, stats, parseHardif,
                        [](const HardifEntry &e) { return e.ifindex; });
    for (auto &h : out)
        if (h.name.empty())
            h.name = interfaceName(h.ifindex);
    return err;
}

int Netlink::gateways(int meshIfindex, std::vector<GatewayEntry> &out, DumpStats *stats)
{
    int err = dumpTable(BATADV_CMD_GET_GATEWAYS, meshIfindex, out, stats, parseGateway,
                        [](const GatewayEntry &e) { return e.originator; });
    nameHardifs(out);
    return err;
}

int Netlink::localTranslations(int meshIfindex, std::vector<LocalTranslation> &out,
                               DumpStats *stats)
{
    return dumpTable(BATADV_CMD_GET_TRANSTABLE_LOCAL, meshIfindex, out, stats,
                     parseLocalTranslation,
                     [](const LocalTranslation &e) { return std::tuple(e.client, e.vid.raw); });
}

int Netlink::globalTranslations(int meshIfindex, std::vector<GlobalTranslation> &out,
                                DumpStats *stats)
{
    return dumpTable(BATADV_CMD_GET_TRANSTABLE_GLOBAL, meshIfindex, out, stats,
                     parseGlobalTranslation, [](const GlobalTranslation &e) {
                         return std::tuple(e.client, e.vid.raw, e.originator);
                     });
}

int Netlink::claims(int meshIfindex, std::vector<ClaimEntry> &out, DumpStats *stats)
{
    return dumpTable(BATADV_CMD_GET_BLA_CLAIM, meshIfindex, out, stats, parseClaim,
                     [](const ClaimEntry &e) { return std::tuple(e.client, e.vid.raw); });
}

int Netlink::backbones(int meshIfindex, std::vector<BackboneEntry> &out, DumpStats *stats)
{
    return dumpTable(BATADV_CMD_GET_BLA_BACKBONE, meshIfindex, out, stats, parseBackbone,
                     [](const BackboneEntry &e) { return std::tuple(e.backbone, e.vid.raw); });
}

int Netlink::dat(int meshIfindex, std::vector<DatEntry> &out, DumpStats *stats)
{
    return dumpTable(BATADV_CMD_GET_DAT_CACHE, meshIfindex, out, stats, parseDat,
                     [](const DatEntry &e) { return std::tuple(e.ip4, e.vid.raw); });
}

} // namespace batman
