// SPDX-License-Identifier: GPL-2.0-or-later
// X.509-SVID checks: a DER chain as the Workload API or a peer sends it, the
// leaf judged as an SVID; the input as text is parsed as a SPIFFE ID, a trust
// domain and a Workload API endpoint.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "id.h"
#include "svid.h"
#include "workload.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    auto chain = spiffe::parseDerChain(std::span<const std::uint8_t>(data, size));
    if (auto *certs = std::get_if<spiffe::Certificates>(&chain); certs && !certs->empty())
        (void)spiffe::checkLeaf(certs->front().get());
    std::string_view text(reinterpret_cast<const char *>(data), size);
    if (auto id = spiffe::parseId(text); std::holds_alternative<spiffe::SpiffeId>(id))
        (void)std::get<spiffe::SpiffeId>(id).str();
    (void)spiffe::parseTrustDomain(text);
    if (auto e = spiffe::parseEndpoint(text); std::holds_alternative<spiffe::Endpoint>(e))
        (void)spiffe::endpointIsLocal(std::get<spiffe::Endpoint>(e));
    return 0;
}
