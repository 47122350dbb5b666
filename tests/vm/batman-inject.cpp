// SPDX-License-Identifier: GPL-2.0-or-later
//
// batman-inject: a lab tool that plays one real BATMAN_IV neighbour of the
// node under test and announces many synthetic originators behind it, so a
// single batman-adv node sees a mesh of thousands of nodes without running
// thousands of kernels.
//
// It speaks the wire format of include/uapi/linux/batadv_packet.h directly
// over an AF_PACKET socket on one end of a veth pair; the other end is a
// batman-adv hard interface of the node. What the kernel's BATMAN_IV code
// (net/batman-adv/bat_iv_ogm.c) needs before it routes through us:
//
//  - Our own OGMs (orig = prev_sender = our MAC). The node counts how many of
//    them it heard in the last 64 sequence numbers ("real_packet_count").
//  - Echoes of the node's own OGMs: a neighbour rebroadcasts an OGM it heard
//    straight from its originator with BATADV_DIRECTLINK set. The node counts
//    those per neighbour in its bcast_own window (bit if_incoming_seqno - 2 -
//    seqno, so the echo must come back within 64 of the node's OGM intervals).
//    Without echoes the node's local TQ towards us (tq_own) stays 0, the link
//    is not bidirectional, and everything announced behind us is dropped as
//    "OGM via unknown neighbor".
//  - Synthetic OGMs with prev_sender = the synthetic originator itself, not
//    our MAC: once the node routes an originator X via us, an OGM for X whose
//    prev_sender is our address (and X != prev_sender) matches the kernel's
//    "avoid temporary routing loops" rule and is dropped, so X would never be
//    refreshed. Announcing X as our one-hop neighbour (prev_sender = X) is
//    also what a real mesh would send.
//  - Many OGMs per frame: the receiver walks every 24 + tvlv_len byte OGM up
//    to the end of the (linearised) frame; BATADV_MAX_AGGREGATION_BYTES (512)
//    and BATADV_MAX_AGGREGATION_PACKETS (32) only bound what batman-adv itself
//    sends. We fill frames up to the interface MTU.
//
// With --clients it also announces translation-table clients: each
// originator that has clients carries a TT TVLV (ttvn 1, one untagged VLAN
// and the table's CRC32C, no changes), the node answers with a TT_REQUEST
// unicast to that originator through us, and we reply with the full table.

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/batadv_packet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Mac = std::array<uint8_t, ETH_ALEN>;

static_assert(sizeof(batadv_ogm_packet) == 24, "BATMAN_IV OGM header is 24 bytes");
static_assert(sizeof(batadv_unicast_tvlv_packet) == 20);
static_assert(sizeof(batadv_tvlv_hdr) == 4);
static_assert(sizeof(batadv_tvlv_tt_data) == 4);
static_assert(sizeof(batadv_tvlv_tt_vlan_data) == 8);
static_assert(sizeof(batadv_tvlv_tt_change) == 12);

constexpr size_t kEthHdr = sizeof(ethhdr);
constexpr size_t kOgmLen = sizeof(batadv_ogm_packet);
// TT TVLV carried in a synthetic OGM: header, tt_data, one VLAN entry.
constexpr size_t kOgmTtLen =
    sizeof(batadv_tvlv_hdr) + sizeof(batadv_tvlv_tt_data) + sizeof(batadv_tvlv_tt_vlan_data);
constexpr uint8_t kTtvn = 1;          // our tables never change
constexpr uint8_t kUnicastTtl = 50;   // BATADV_TTL
constexpr uint8_t kOwnTq = 255;       // BATADV_TQ_MAX_VALUE
constexpr uint32_t kMaxIndex = 0xffffff;  // originators and clients use a 24-bit suffix
constexpr size_t kBatch = 32;         // frames per sendmmsg

constexpr const char* kUsage =
    "usage: batman-inject --interface IF --originators N [options]\n"
    "\n"
    "Plays one BATMAN_IV neighbour on IF (a veth whose peer is a batman-adv hard\n"
    "interface) and announces N synthetic originators behind it.\n"
    "\n"
    "  --interface IF     interface to send and listen on (required)\n"
    "  --originators N    synthetic originators to announce (required, 0..16777215)\n"
    "  --clients M        translation-table clients spread over the first N\n"
    "                     originators; TT_REQUESTs are answered (default 0)\n"
    "  --interval MS      OGM interval in milliseconds (default 1000, min 10)\n"
    "  --step K           originators added by SIGUSR1 / withdrawn by SIGUSR2\n"
    "                     (default 1000)\n"
    "  --mac-base XX:XX:XX  first three bytes of the synthetic MACs; must be a\n"
    "                     locally administered unicast prefix (default 02:ba:7e)\n"
    "  --tq T             TQ announced for the synthetic originators (1..255,\n"
    "                     default 240)\n"
    "  --ttl T            TTL of our OGMs (1..255, default 50)\n"
    "  --verbose          one statistics line per interval on stderr\n"
    "  --help             this text\n"
    "\n"
    "Originator i (1-based) is BASE:ii:ii:ii; client j is (BASE[0]^04):BASE[1]:\n"
    "BASE[2]:jj:jj:jj, announced by originator ((j-1) mod N) + 1.\n"
    "Prints \"originators N\" on stdout at start and after every change.\n"
    "SIGUSR1 adds K originators, SIGUSR2 stops announcing the highest K,\n"
    "SIGTERM and SIGINT exit.\n";

[[noreturn]] void usage_error(const std::string& msg) {
    std::fprintf(stderr, "batman-inject: %s\n(see batman-inject --help)\n", msg.c_str());
    std::exit(2);
}

[[noreturn]] void fatal(const std::string& msg) {
    std::fprintf(stderr, "batman-inject: %s\n", msg.c_str());
    std::exit(1);
}

[[noreturn]] void fatal_errno(const std::string& what) {
    fatal(what + ": " + std::strerror(errno));
}

struct Options {
    std::string iface;
    uint32_t originators = 0;
    bool have_originators = false;
    uint32_t clients = 0;
    uint32_t interval_ms = 1000;
    uint32_t step = 1000;
    std::array<uint8_t, 3> base{0x02, 0xba, 0x7e};
    uint8_t tq = 240;
    uint8_t ttl = 50;
    bool verbose = false;
};

uint32_t parse_uint(std::string_view name, std::string_view text, uint32_t min, uint32_t max) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
        usage_error(std::string(name) + ": not a number: '" + std::string(text) + "'");
    if (v < min || v > max)
        usage_error(std::string(name) + " must be between " + std::to_string(min) + " and " +
                    std::to_string(max) + ", got " + std::string(text));
    return static_cast<uint32_t>(v);
}

std::array<uint8_t, 3> parse_base(std::string_view text) {
    std::array<uint8_t, 3> out{};
    if (text.size() != 8 || text[2] != ':' || text[5] != ':')
        usage_error("--mac-base must look like 02:ba:7e, got '" + std::string(text) + "'");
    for (size_t i = 0; i < 3; ++i) {
        const char* p = text.data() + i * 3;
        auto [end, ec] = std::from_chars(p, p + 2, out[i], 16);
        if (ec != std::errc{} || end != p + 2)
            usage_error("--mac-base: bad hex byte in '" + std::string(text) + "'");
    }
    if ((out[0] & 0x03) != 0x02)
        usage_error("--mac-base must be a locally administered unicast prefix "
                    "(first byte with bit 1 set and bit 0 clear, e.g. 02)");
    return out;
}

Options parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        }
        if (arg == "--verbose" || arg == "-v") {
            o.verbose = true;
            continue;
        }
        std::string_view name = arg, value;
        bool inline_value = false;
        if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            inline_value = true;
        }
        static constexpr std::string_view with_value[] = {
            "--interface", "--originators", "--clients", "--interval",
            "--step",      "--mac-base",    "--tq",      "--ttl"};
        if (std::find(std::begin(with_value), std::end(with_value), name) == std::end(with_value))
            usage_error("unknown argument '" + std::string(arg) + "'");
        if (!inline_value) {
            if (i + 1 >= argc) usage_error(std::string(name) + " needs a value");
            value = argv[++i];
        }
        if (name == "--interface") {
            if (value.empty() || value.size() >= IFNAMSIZ)
                usage_error("--interface: bad interface name '" + std::string(value) + "'");
            o.iface = value;
        } else if (name == "--originators") {
            o.originators = parse_uint(name, value, 0, kMaxIndex);
            o.have_originators = true;
        } else if (name == "--clients") {
            o.clients = parse_uint(name, value, 0, kMaxIndex);
        } else if (name == "--interval") {
            o.interval_ms = parse_uint(name, value, 10, 3600000);
        } else if (name == "--step") {
            o.step = parse_uint(name, value, 1, kMaxIndex);
        } else if (name == "--mac-base") {
            o.base = parse_base(value);
        } else if (name == "--tq") {
            o.tq = static_cast<uint8_t>(parse_uint(name, value, 1, 255));
        } else if (name == "--ttl") {
            o.ttl = static_cast<uint8_t>(parse_uint(name, value, 1, 255));
        }
    }
    if (o.iface.empty()) usage_error("--interface is required");
    if (!o.have_originators) usage_error("--originators is required");
    if (o.clients > 0 && o.originators == 0)
        usage_error("--clients needs at least one originator to announce them");
    return o;
}

// CRC32C (Castagnoli, reflected polynomial 0x82f63b78) without the usual
// initial and final inversion: the kernel's crc32c(seed, buf, len) returns
// the raw register, and batman-adv seeds it with 0.
struct Crc32c {
    std::array<uint32_t, 256> table{};
    constexpr Crc32c() {
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
            table[i] = c;
        }
    }
    uint32_t update(uint32_t crc, const uint8_t* p, size_t n) const {
        while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
        return crc;
    }
};
constexpr Crc32c kCrc;

int64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string mac_str(const uint8_t* m) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                  m[5]);
    return buf;
}

class Injector {
public:
    explicit Injector(Options o) : opt_(std::move(o)), count_(opt_.originators) {}

    void setup();
    int run();

private:
    // Synthetic addresses.
    Mac orig_mac(uint32_t index) const {
        uint32_t s = index + 1;
        return {opt_.base[0], opt_.base[1], opt_.base[2], uint8_t(s >> 16), uint8_t(s >> 8),
                uint8_t(s)};
    }
    Mac client_mac(uint32_t j) const {
        uint32_t s = j + 1;
        return {uint8_t(opt_.base[0] ^ 0x04), opt_.base[1], opt_.base[2], uint8_t(s >> 16),
                uint8_t(s >> 8), uint8_t(s)};
    }
    // Index of a synthetic originator MAC, or -1.
    int64_t orig_index(const uint8_t* m) const {
        if (m[0] != opt_.base[0] || m[1] != opt_.base[1] || m[2] != opt_.base[2]) return -1;
        uint32_t s = (uint32_t(m[3]) << 16) | (uint32_t(m[4]) << 8) | m[5];
        if (s == 0) return -1;
        return s - 1;
    }
    // Clients are dealt round-robin over the first --originators originators.
    uint32_t clients_of(uint32_t index) const {
        uint32_t n = opt_.originators;
        if (opt_.clients == 0 || index >= n) return 0;
        return opt_.clients / n + (index < opt_.clients % n ? 1 : 0);
    }
    size_t ogm_len(uint32_t index) const { return kOgmLen + (clients_of(index) ? kOgmTtLen : 0); }

    size_t write_eth(uint8_t* buf, const uint8_t* dst) const;
    size_t write_ogm(uint8_t* p, const Mac& orig, const Mac& prev, uint32_t seqno, uint8_t tq,
                     uint8_t flags, uint16_t tvlv_len) const;
    size_t fill_frame(uint8_t* buf, uint32_t& index, uint32_t end) const;
    uint32_t count_frames(uint32_t end) const;

    void start_round(int64_t now);
    void send_due(int64_t now, bool all);
    void send_own_ogm();
    void flush();
    void send_one(const uint8_t* buf, size_t len);
    void note_send_error(int err);
    void receive();
    void handle_frame(const uint8_t* buf, size_t len);
    void echo_ogm(const uint8_t* ogm, size_t len, const uint8_t* sender);
    void handle_unicast_tvlv(const uint8_t* buf, size_t len);
    void answer_tt_request(const uint8_t* eth_src, const uint8_t* req_src, uint32_t index);
    bool handle_signals();
    void announce_count();

    Options opt_;
    int fd_ = -1;
    int sigfd_ = -1;
    int ifindex_ = 0;
    Mac self_{};
    size_t payload_max_ = 1500;
    uint32_t count_;
    std::vector<uint32_t> tt_crc_;

    uint32_t own_seqno_ = 0;
    uint32_t orig_seqno_ = 0;    // next round's seqno
    uint32_t round_seqno_ = 0;   // this round's seqno
    int64_t interval_ns_ = 0;
    int64_t next_round_ = 0;
    int64_t round_start_ = 0;
    uint32_t round_end_ = 0;     // originators announced this round
    uint32_t round_frames_ = 0;  // frames planned this round
    uint32_t frames_sent_ = 0;
    uint32_t next_index_ = 0;
    uint64_t rounds_ = 0;

    std::vector<uint8_t> batch_buf_;
    std::vector<uint8_t> scratch_;  // echoes and TT responses
    std::array<size_t, kBatch> batch_len_{};
    size_t batch_n_ = 0;

    struct Stats {
        uint64_t frames = 0, ogms = 0, echoes = 0, tt_requests = 0, tt_responses = 0;
        uint64_t send_errors = 0, late_frames = 0;
    } stats_, last_;
    int last_error_ = 0;
};

size_t Injector::write_eth(uint8_t* buf, const uint8_t* dst) const {
    ethhdr eh{};
    std::memcpy(eh.h_dest, dst, ETH_ALEN);
    std::memcpy(eh.h_source, self_.data(), ETH_ALEN);
    eh.h_proto = htons(ETH_P_BATMAN);
    std::memcpy(buf, &eh, sizeof eh);
    return sizeof eh;
}

size_t Injector::write_ogm(uint8_t* p, const Mac& orig, const Mac& prev, uint32_t seqno, uint8_t tq,
                           uint8_t flags, uint16_t tvlv_len) const {
    batadv_ogm_packet ogm{};
    ogm.packet_type = BATADV_IV_OGM;
    ogm.version = BATADV_COMPAT_VERSION;
    ogm.ttl = opt_.ttl;
    ogm.flags = flags;
    ogm.seqno = htonl(seqno);
    std::memcpy(ogm.orig, orig.data(), ETH_ALEN);
    std::memcpy(ogm.prev_sender, prev.data(), ETH_ALEN);
    ogm.tq = tq;
    ogm.tvlv_len = htons(tvlv_len);
    std::memcpy(p, &ogm, sizeof ogm);
    return sizeof ogm;
}

// Writes one broadcast frame holding synthetic OGMs from index on (up to end
// or the MTU); advances index. The packing must match count_frames().
size_t Injector::fill_frame(uint8_t* buf, uint32_t& index, uint32_t end) const {
    static constexpr uint8_t bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    size_t len = write_eth(buf, bcast);
    size_t used = 0;
    for (; index < end; ++index) {
        size_t l = ogm_len(index);
        if (used + l > payload_max_) break;
        uint8_t* p = buf + len + used;
        Mac orig = orig_mac(index);
        if (l == kOgmLen) {
            write_ogm(p, orig, orig, round_seqno_, opt_.tq, 0, 0);
        } else {
            p += write_ogm(p, orig, orig, round_seqno_, opt_.tq, 0, uint16_t(kOgmTtLen));
            batadv_tvlv_hdr th{};
            th.type = BATADV_TVLV_TT;
            th.version = 1;
            th.len = htons(uint16_t(kOgmTtLen - sizeof th));
            std::memcpy(p, &th, sizeof th);
            p += sizeof th;
            batadv_tvlv_tt_data td{};
            td.flags = BATADV_TT_OGM_DIFF;
            td.ttvn = kTtvn;
            td.num_vlan = htons(1);
            std::memcpy(p, &td, sizeof td);
            p += sizeof td;
            batadv_tvlv_tt_vlan_data vd{};
            vd.crc = htonl(tt_crc_[index]);
            vd.vid = htons(0);  // untagged
            std::memcpy(p, &vd, sizeof vd);
        }
        used += l;
    }
    return len + used;
}

uint32_t Injector::count_frames(uint32_t end) const {
    if (opt_.clients == 0) {
        uint32_t per = uint32_t(payload_max_ / kOgmLen);
        return (end + per - 1) / per;
    }
    uint32_t frames = 0;
    size_t used = payload_max_;  // forces a first frame
    for (uint32_t i = 0; i < end; ++i) {
        size_t l = ogm_len(i);
        if (used + l > payload_max_) {
            ++frames;
            used = 0;
        }
        used += l;
    }
    return frames;
}

void Injector::setup() {
    ifindex_ = int(if_nametoindex(opt_.iface.c_str()));
    if (ifindex_ == 0) usage_error("--interface: no interface '" + opt_.iface + "'");

    fd_ = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_BATMAN));
    if (fd_ < 0) fatal_errno("socket(AF_PACKET)");

    ifreq ifr{};
    std::memcpy(ifr.ifr_name, opt_.iface.c_str(), opt_.iface.size());
    if (ioctl(fd_, SIOCGIFHWADDR, &ifr) < 0) fatal_errno("SIOCGIFHWADDR " + opt_.iface);
    std::memcpy(self_.data(), ifr.ifr_hwaddr.sa_data, ETH_ALEN);
    if (ioctl(fd_, SIOCGIFMTU, &ifr) < 0) fatal_errno("SIOCGIFMTU " + opt_.iface);
    payload_max_ = size_t(ifr.ifr_mtu);
    if (payload_max_ < 68) fatal("MTU of " + opt_.iface + " is too small");
    if (orig_index(self_.data()) >= 0)
        fatal(opt_.iface + "'s MAC " + mac_str(self_.data()) +
              " lies in the --mac-base range; pick another base");

    // Only the frames we answer reach user space: BATMAN_IV frames whose
    // first OGM was originated by the sender (a node's own OGM is always the
    // base of its aggregate), and, when announcing clients, unicast TVLVs.
    const uint32_t tvlv_verdict = opt_.clients ? 0x40000 : 0;
    sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kEthHdr),                      // 0 packet type
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BATADV_UNICAST_TVLV, 11, 0),  // 1 -> 13
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BATADV_IV_OGM, 0, 9),         // 2 -> 3 / 12
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 6),                            // 3 eth src [0..3]
        BPF_STMT(BPF_MISC | BPF_TAX, 0),                                  // 4
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kEthHdr + 8),                  // 5 ogm orig [0..3]
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 5),                     // 6 -> 7 / 12
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 10),                           // 7 eth src [4..5]
        BPF_STMT(BPF_MISC | BPF_TAX, 0),                                  // 8
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, kEthHdr + 12),                 // 9 ogm orig [4..5]
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 1),                     // 10 -> 11 / 12
        BPF_STMT(BPF_RET | BPF_K, 0x40000),                               // 11 accept
        BPF_STMT(BPF_RET | BPF_K, 0),                                     // 12 drop
        BPF_STMT(BPF_RET | BPF_K, tvlv_verdict),                          // 13 unicast TVLV
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
    if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0)
        fatal_errno("SO_ATTACH_FILTER");

    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_BATMAN);
    sll.sll_ifindex = ifindex_;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0)
        fatal_errno("bind to " + opt_.iface);
    int sz = 4 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    sz = 1 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);

    if (opt_.clients) {
        // A full-table TT_RESPONSE must fit one frame (no fragmentation).
        size_t fixed = sizeof(batadv_unicast_tvlv_packet) + sizeof(batadv_tvlv_hdr) +
                       sizeof(batadv_tvlv_tt_data) + sizeof(batadv_tvlv_tt_vlan_data);
        size_t per_frame = (payload_max_ - fixed) / sizeof(batadv_tvlv_tt_change);
        uint32_t most = clients_of(0);
        if (most > per_frame)
            usage_error(std::to_string(most) + " clients per originator do not fit one " +
                        std::to_string(payload_max_) + "-byte TT_RESPONSE (at most " +
                        std::to_string(per_frame) + "); announce more originators");
        // Per-originator table CRC as batadv_tt_global_crc() computes it:
        // XOR over clients of crc32c(crc32c(crc32c(0, vid_be16), flags), mac).
        const uint8_t vid_flags[3] = {0, 0, 0};  // vid 0 (untagged), flags 0
        uint32_t prefix = kCrc.update(0, vid_flags, 2);
        prefix = kCrc.update(prefix, vid_flags + 2, 1);
        uint32_t n = std::min(opt_.originators, opt_.clients);
        tt_crc_.assign(n, 0);
        for (uint32_t j = 0; j < opt_.clients; ++j) {
            Mac c = client_mac(j);
            tt_crc_[j % opt_.originators] ^= kCrc.update(prefix, c.data(), c.size());
        }
    }

    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGUSR1, SIGUSR2, SIGTERM, SIGINT}) sigaddset(&set, s);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) < 0) fatal_errno("sigprocmask");
    sigfd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd_ < 0) fatal_errno("signalfd");

    // Sequence numbers follow the wall clock so that a restarted injector
    // continues above its previous numbers: the node ignores an originator
    // for 30 s when its seqno jumps back by 64 or more (a "reboot").
    timespec rt{};
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t ms = uint64_t(rt.tv_sec) * 1000 + uint64_t(rt.tv_nsec) / 1000000;
    own_seqno_ = orig_seqno_ = uint32_t(ms / opt_.interval_ms);
    interval_ns_ = int64_t(opt_.interval_ms) * 1000000;
    batch_buf_.resize(kBatch * (kEthHdr + payload_max_));
    scratch_.resize(kEthHdr + 65536);

    if (opt_.verbose)
        std::fprintf(stderr,
                     "batman-inject: %s (%s, MTU %zu): %u originators, %u clients, %u ms, "
                     "%u OGMs per frame\n",
                     opt_.iface.c_str(), mac_str(self_.data()).c_str(), payload_max_, count_,
                     opt_.clients, opt_.interval_ms,
                     unsigned(payload_max_ / (opt_.clients ? kOgmLen + kOgmTtLen : kOgmLen)));
}

void Injector::announce_count() {
    std::printf("originators %u\n", count_);
    std::fflush(stdout);
}

void Injector::note_send_error(int err) {
    ++stats_.send_errors;
    if (err == ENODEV || err == ENXIO) fatal("interface " + opt_.iface + " is gone");
    if (opt_.verbose && err != last_error_)
        std::fprintf(stderr, "batman-inject: send: %s\n", std::strerror(err));
    last_error_ = err;
}

void Injector::send_one(const uint8_t* buf, size_t len) {
    if (send(fd_, buf, len, 0) < 0) note_send_error(errno);
}

void Injector::flush() {
    if (batch_n_ == 0) return;
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> msgs{};
    size_t stride = kEthHdr + payload_max_;
    for (size_t i = 0; i < batch_n_; ++i) {
        iov[i].iov_base = batch_buf_.data() + i * stride;
        iov[i].iov_len = batch_len_[i];
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    size_t done = 0;
    while (done < batch_n_) {
        int n = sendmmsg(fd_, msgs.data() + done, unsigned(batch_n_ - done), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            note_send_error(errno);
            ++done;  // skip the frame that failed
            continue;
        }
        done += size_t(n);
    }
    batch_n_ = 0;
}

void Injector::send_own_ogm() {
    static constexpr uint8_t bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t buf[kEthHdr + kOgmLen];
    size_t len = write_eth(buf, bcast);
    len += write_ogm(buf + len, self_, self_, own_seqno_++, kOwnTq, 0, 0);
    send_one(buf, len);
}

void Injector::start_round(int64_t now) {
    if (frames_sent_ < round_frames_) {
        // The previous round is behind (the receiver is slow): finish it now.
        stats_.late_frames += round_frames_ - frames_sent_;
        send_due(now, true);
    }
    if (opt_.verbose && rounds_++ > 0) {
        Stats d{stats_.frames - last_.frames,           stats_.ogms - last_.ogms,
                stats_.echoes - last_.echoes,           stats_.tt_requests - last_.tt_requests,
                stats_.tt_responses - last_.tt_responses, stats_.send_errors - last_.send_errors,
                stats_.late_frames - last_.late_frames};
        std::fprintf(stderr,
                     "batman-inject: seqno %u: %llu OGMs in %llu frames, %llu echoes, "
                     "%llu TT requests, %llu responses, %llu send errors, %llu late frames\n",
                     round_seqno_, (unsigned long long)d.ogms, (unsigned long long)d.frames,
                     (unsigned long long)d.echoes, (unsigned long long)d.tt_requests,
                     (unsigned long long)d.tt_responses, (unsigned long long)d.send_errors,
                     (unsigned long long)d.late_frames);
        last_ = stats_;
    }
    send_own_ogm();
    round_start_ = now;
    round_end_ = count_;
    round_frames_ = count_frames(round_end_);
    frames_sent_ = 0;
    next_index_ = 0;
    round_seqno_ = orig_seqno_++;
}

// Sends the frames of this round that are due: frame f of F goes out at
// round start + f * (interval / 2) / F, so a round never bursts.
void Injector::send_due(int64_t now, bool all) {
    const int64_t spread = interval_ns_ / 2;
    size_t stride = kEthHdr + payload_max_;
    while (frames_sent_ < round_frames_) {
        int64_t due = round_start_ + spread * int64_t(frames_sent_) / int64_t(round_frames_);
        if (!all && due > now) break;
        uint32_t from = next_index_;
        batch_len_[batch_n_] = fill_frame(batch_buf_.data() + batch_n_ * stride, next_index_,
                                          round_end_);
        ++batch_n_;
        ++frames_sent_;
        ++stats_.frames;
        stats_.ogms += next_index_ - from;
        if (batch_n_ == kBatch) flush();
    }
    flush();
}

void Injector::echo_ogm(const uint8_t* ogm, size_t len, const uint8_t* sender) {
    static constexpr uint8_t bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t* buf = scratch_.data();
    if (kEthHdr + len > scratch_.size()) return;
    size_t off = write_eth(buf, bcast);
    std::memcpy(buf + off, ogm, len);
    batadv_ogm_packet h;
    std::memcpy(&h, buf + off, sizeof h);
    // As batadv_iv_ogm_forward() does for a single-hop neighbour's OGM.
    h.ttl = uint8_t(h.ttl - 1);
    std::memcpy(h.prev_sender, sender, ETH_ALEN);
    h.flags = uint8_t((h.flags | BATADV_DIRECTLINK) & ~BATADV_NOT_BEST_NEXT_HOP);
    std::memcpy(buf + off, &h, sizeof h);
    send_one(buf, off + len);
    ++stats_.echoes;
}

void Injector::answer_tt_request(const uint8_t* eth_src, const uint8_t* req_src, uint32_t index) {
    uint32_t n = clients_of(index);
    uint8_t* buf = scratch_.data();
    size_t tt_len = sizeof(batadv_tvlv_tt_data) + sizeof(batadv_tvlv_tt_vlan_data) +
                    n * sizeof(batadv_tvlv_tt_change);
    size_t tvlv_len = sizeof(batadv_tvlv_hdr) + tt_len;
    if (kEthHdr + sizeof(batadv_unicast_tvlv_packet) + tvlv_len > scratch_.size()) return;
    uint8_t* p = buf + write_eth(buf, eth_src);
    Mac orig = orig_mac(index);

    batadv_unicast_tvlv_packet up{};
    up.packet_type = BATADV_UNICAST_TVLV;
    up.version = BATADV_COMPAT_VERSION;
    up.ttl = kUnicastTtl;
    std::memcpy(up.dst, req_src, ETH_ALEN);
    std::memcpy(up.src, orig.data(), ETH_ALEN);
    up.tvlv_len = htons(uint16_t(tvlv_len));
    std::memcpy(p, &up, sizeof up);
    p += sizeof up;

    batadv_tvlv_hdr th{};
    th.type = BATADV_TVLV_TT;
    th.version = 1;
    th.len = htons(uint16_t(tt_len));
    std::memcpy(p, &th, sizeof th);
    p += sizeof th;

    batadv_tvlv_tt_data td{};
    td.flags = BATADV_TT_RESPONSE | BATADV_TT_FULL_TABLE;
    td.ttvn = kTtvn;
    td.num_vlan = htons(1);
    std::memcpy(p, &td, sizeof td);
    p += sizeof td;

    batadv_tvlv_tt_vlan_data vd{};
    vd.crc = htonl(tt_crc_[index]);
    vd.vid = htons(0);
    std::memcpy(p, &vd, sizeof vd);
    p += sizeof vd;

    for (uint32_t t = 0; t < n; ++t) {
        batadv_tvlv_tt_change ch{};
        Mac c = client_mac(index + t * opt_.originators);
        std::memcpy(ch.addr, c.data(), ETH_ALEN);
        ch.vid = htons(0);
        std::memcpy(p, &ch, sizeof ch);
        p += sizeof ch;
    }
    send_one(buf, size_t(p - buf));
    ++stats_.tt_responses;
}

void Injector::handle_unicast_tvlv(const uint8_t* buf, size_t len) {
    constexpr size_t hdr = kEthHdr + sizeof(batadv_unicast_tvlv_packet);
    if (len < hdr || std::memcmp(buf, self_.data(), ETH_ALEN) != 0) return;
    batadv_unicast_tvlv_packet up;
    std::memcpy(&up, buf + kEthHdr, sizeof up);
    if (up.version != BATADV_COMPAT_VERSION) return;
    int64_t index = orig_index(up.dst);
    if (index < 0 || uint32_t(index) >= count_ || clients_of(uint32_t(index)) == 0) return;
    size_t end = std::min(len, hdr + ntohs(up.tvlv_len));
    size_t pos = hdr;
    while (pos + sizeof(batadv_tvlv_hdr) <= end) {
        batadv_tvlv_hdr th;
        std::memcpy(&th, buf + pos, sizeof th);
        size_t vlen = ntohs(th.len);
        pos += sizeof th;
        if (pos + vlen > end) break;
        if (th.type == BATADV_TVLV_TT && th.version == 1 && vlen >= sizeof(batadv_tvlv_tt_data)) {
            batadv_tvlv_tt_data td;
            std::memcpy(&td, buf + pos, sizeof td);
            if ((td.flags & BATADV_TT_DATA_TYPE_MASK) == BATADV_TT_REQUEST) {
                ++stats_.tt_requests;
                answer_tt_request(buf + ETH_ALEN, up.src, uint32_t(index));
            }
        }
        pos += vlen;
    }
}

void Injector::handle_frame(const uint8_t* buf, size_t len) {
    if (len < kEthHdr + 1) return;
    const uint8_t* src = buf + ETH_ALEN;
    if (std::memcmp(src, self_.data(), ETH_ALEN) == 0) return;
    uint8_t type = buf[kEthHdr];
    if (type == BATADV_UNICAST_TVLV) {
        if (opt_.clients) handle_unicast_tvlv(buf, len);
        return;
    }
    if (type != BATADV_IV_OGM) return;
    // Walk the aggregate like batadv_iv_ogm_receive(); echo the sender's own
    // OGMs (orig == sender: its primary or a secondary interface's OGM).
    size_t pos = kEthHdr;
    while (pos + kOgmLen <= len) {
        batadv_ogm_packet h;
        std::memcpy(&h, buf + pos, sizeof h);
        if (h.packet_type != BATADV_IV_OGM) break;
        size_t total = kOgmLen + ntohs(h.tvlv_len);
        if (pos + total > len) break;
        if (h.version == BATADV_COMPAT_VERSION && h.ttl > 1 &&
            std::memcmp(h.orig, src, ETH_ALEN) == 0)
            echo_ogm(buf + pos, total, src);
        pos += total;
    }
}

void Injector::receive() {
    static uint8_t buf[65536];
    for (int i = 0; i < 256; ++i) {
        sockaddr_ll from{};
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from),
                             &fl);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            if (errno == ENETDOWN) return;
            fatal_errno("recv");
        }
        if (from.sll_pkttype == PACKET_OUTGOING) continue;
        handle_frame(buf, size_t(n));
    }
}

// Returns false when asked to exit.
bool Injector::handle_signals() {
    signalfd_siginfo si;
    while (read(sigfd_, &si, sizeof si) == ssize_t(sizeof si)) {
        switch (si.ssi_signo) {
        case SIGUSR1:
            count_ = uint32_t(std::min<uint64_t>(uint64_t(count_) + opt_.step, kMaxIndex));
            announce_count();
            break;
        case SIGUSR2:
            count_ -= std::min(count_, opt_.step);
            announce_count();
            break;
        default:
            return false;
        }
    }
    return true;
}

int Injector::run() {
    announce_count();
    next_round_ = mono_ns();
    for (;;) {
        int64_t now = mono_ns();
        if (now >= next_round_) {
            start_round(now);
            next_round_ += interval_ns_;
            if (next_round_ <= now) next_round_ = now + interval_ns_;  // we were stalled
        }
        send_due(now, false);

        int64_t wake = next_round_;
        if (frames_sent_ < round_frames_)
            wake = std::min(wake, round_start_ + (interval_ns_ / 2) * int64_t(frames_sent_) /
                                                     int64_t(round_frames_));
        int64_t wait = std::max<int64_t>(0, wake - mono_ns());
        timespec ts{time_t(wait / 1000000000), long(wait % 1000000000)};
        pollfd pfd[2] = {{fd_, POLLIN, 0}, {sigfd_, POLLIN, 0}};
        int r = ppoll(pfd, 2, &ts, nullptr);
        if (r < 0) {
            if (errno == EINTR) continue;
            fatal_errno("ppoll");
        }
        if (pfd[0].revents & POLLIN) receive();
        if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) note_send_error(err);
        }
        if ((pfd[1].revents & POLLIN) && !handle_signals()) break;
    }
    if (opt_.verbose)
        std::fprintf(stderr,
                     "batman-inject: exiting: %llu OGMs in %llu frames, %llu echoes, "
                     "%llu TT responses, %llu send errors\n",
                     (unsigned long long)stats_.ogms, (unsigned long long)stats_.frames,
                     (unsigned long long)stats_.echoes, (unsigned long long)stats_.tt_responses,
                     (unsigned long long)stats_.send_errors);
    close(fd_);
    close(sigfd_);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // The CRC must be the kernel's: raw CRC32C of "123456789" with the
    // standard inversions applied by hand is the published check value.
    const uint8_t check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    if ((kCrc.update(0xffffffffu, check, sizeof check) ^ 0xffffffffu) != 0xe3069283u)
        fatal("internal error: CRC32C self-test failed");

    Injector inj(parse_args(argc, argv));
    inj.setup();
    return inj.run();
}
