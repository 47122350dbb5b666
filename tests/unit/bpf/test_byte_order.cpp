// SPDX-License-Identifier: GPL-2.0-or-later
// What meshd shares with its BPF programs, checked without a kernel (no
// bpf(), so it runs under qemu-user too: tests/cross/run): the embedded
// objects have this host's byte order (bpfeb on big-endian targets, whose
// kernel would otherwise read every map key and value byte-swapped), libbpf
// opens them here, and every map key and value has the size and field
// offsets the programs were compiled with (their BTF), on 32-bit targets too.
#include <catch2/catch.hpp>

#include "meshd_build.h"

#if MESHD_HAVE_BPF

#include <bit>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cstddef>
#include <cstring>
#include <elf.h>
#include <initializer_list>
#include <string>

#include "drops.skel.h"
#include "drops_abi.h"
#include "link.skel.h"
#include "link_abi.h"
#include "sojourn.skel.h"
#include "sojourn_abi.h"
#include "tcp.skel.h"

namespace {

constexpr bool bigEndianHost = std::endian::native == std::endian::big;

// An object's ELF header: BPF, 64-bit, of this host's byte order.
void checkElf(const char *probe, const void *bytes, std::size_t size)
{
    INFO(probe << ".bpf.o");
    REQUIRE(size > sizeof(Elf64_Ehdr));
    const auto *e = static_cast<const unsigned char *>(bytes);
    REQUIRE(std::memcmp(e, ELFMAG, SELFMAG) == 0);
    CHECK(e[EI_CLASS] == ELFCLASS64);
    CHECK(e[EI_DATA] == (bigEndianHost ? ELFDATA2MSB : ELFDATA2LSB));
    // e_machine, read in the byte order the object says it has.
    unsigned machine = e[EI_DATA] == ELFDATA2MSB ? (e[18] << 8 | e[19]) : (e[19] << 8 | e[18]);
    CHECK(machine == EM_BPF);
}

struct Field {
    const char *name;
    std::size_t offset;
    std::size_t size;
};
#define FIELD(type, member) Field{#member, offsetof(type, member), sizeof(type::member)}

// A struct of the object's BTF against this compiler's layout of it.
void checkStruct(const btf *b, const char *type, std::size_t size, std::initializer_list<Field> fields)
{
    INFO("struct " << type);
    int id = btf__find_by_name_kind(b, type, BTF_KIND_STRUCT);
    REQUIRE(id > 0);
    const btf_type *t = btf__type_by_id(b, static_cast<__u32>(id));
    REQUIRE(t);
    CHECK(t->size == size);
    REQUIRE(btf_vlen(t) == fields.size());
    const btf_member *m = btf_members(t);
    std::uint32_t i = 0;
    for (const Field &f : fields) {
        INFO("member " << f.name);
        CHECK(std::string(btf__name_by_offset(b, m[i].name_off)) == f.name);
        CHECK(btf_member_bit_offset(t, i) == f.offset * 8);
        CHECK(btf__resolve_size(b, m[i].type) == static_cast<__s64>(f.size));
        i++;
    }
}

void checkMap(const bpf_map *map, std::size_t key, std::size_t value)
{
    INFO("map " << bpf_map__name(map));
    CHECK(bpf_map__key_size(map) == key);
    CHECK(bpf_map__value_size(map) == value); // per CPU, for the per-CPU maps
}

} // namespace

TEST_CASE("the embedded BPF objects have this host's byte order", "[probes][byte-order]")
{
    std::size_t size = 0;
    const void *bytes = link_bpf__elf_bytes(&size);
    checkElf("link", bytes, size);
    bytes = drops_bpf__elf_bytes(&size);
    checkElf("drops", bytes, size);
    bytes = tcp_bpf__elf_bytes(&size);
    checkElf("tcp", bytes, size);
    bytes = sojourn_bpf__elf_bytes(&size);
    checkElf("sojourn", bytes, size);
}

TEST_CASE("the link probe's maps have the layout userspace reads", "[probes][byte-order]")
{
    // Opening parses the object (libbpf refuses one of the other byte
    // order); nothing reaches the kernel before load.
    link_bpf *skel = link_bpf__open();
    REQUIRE(skel);
    checkMap(skel->maps.neighbors, sizeof(meshd_loss_key), 1);
    checkMap(skel->maps.link_counters, sizeof(meshd_link_key), sizeof(meshd_link_value));
    checkMap(skel->maps.loss, sizeof(meshd_loss_key), sizeof(meshd_loss_value));
    const btf *b = bpf_object__btf(skel->obj);
    REQUIRE(b);
    checkStruct(b, "meshd_link_key", sizeof(meshd_link_key),
                {FIELD(meshd_link_key, ifindex), FIELD(meshd_link_key, mac),
                 FIELD(meshd_link_key, dir), FIELD(meshd_link_key, pad)});
    checkStruct(b, "meshd_link_value", sizeof(meshd_link_value),
                {FIELD(meshd_link_value, packets), FIELD(meshd_link_value, bytes),
                 FIELD(meshd_link_value, types)});
    checkStruct(b, "meshd_loss_key", sizeof(meshd_loss_key),
                {FIELD(meshd_loss_key, ifindex), FIELD(meshd_loss_key, mac),
                 FIELD(meshd_loss_key, pad)});
    checkStruct(b, "meshd_loss_value", sizeof(meshd_loss_value),
                {FIELD(meshd_loss_value, last_seq), FIELD(meshd_loss_value, pad),
                 FIELD(meshd_loss_value, window), FIELD(meshd_loss_value, received),
                 FIELD(meshd_loss_value, lost), FIELD(meshd_loss_value, late),
                 FIELD(meshd_loss_value, duplicates), FIELD(meshd_loss_value, restarts)});
    link_bpf__destroy(skel);
}

TEST_CASE("the tier B probes' maps have the layout userspace reads", "[probes][byte-order]")
{
    drops_bpf *drops = drops_bpf__open();
    REQUIRE(drops);
    checkMap(drops->maps.drops, sizeof(meshd_drop_key), sizeof(std::uint64_t));
    REQUIRE(bpf_object__btf(drops->obj));
    checkStruct(bpf_object__btf(drops->obj), "meshd_drop_key", sizeof(meshd_drop_key),
                {FIELD(meshd_drop_key, ifindex), FIELD(meshd_drop_key, reason)});
    // The loader writes the namespace's inode number into .rodata before load.
    CHECK(bpf_map__value_size(drops->maps.rodata) == sizeof(drops->rodata->meshd_netns_inum));
    drops_bpf__destroy(drops);

    tcp_bpf *tcp = tcp_bpf__open();
    REQUIRE(tcp);
    checkMap(tcp->maps.tcp_retransmits, sizeof(std::uint32_t), sizeof(std::uint64_t));
    tcp_bpf__destroy(tcp);

    sojourn_bpf *sojourn = sojourn_bpf__open();
    REQUIRE(sojourn);
    checkMap(sojourn->maps.enqueued, sizeof(std::uint64_t), sizeof(std::uint64_t));
    checkMap(sojourn->maps.sojourn, sizeof(std::uint32_t), sizeof(meshd_sojourn_value));
    REQUIRE(bpf_object__btf(sojourn->obj));
    checkStruct(bpf_object__btf(sojourn->obj), "meshd_sojourn_value", sizeof(meshd_sojourn_value),
                {FIELD(meshd_sojourn_value, buckets), FIELD(meshd_sojourn_value, sum_ns)});
    sojourn_bpf__destroy(sojourn);
}

#endif
