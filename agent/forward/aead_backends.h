// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

// Internal to aead.cpp: the implementations behind makeAead().

#include "aead.h"

namespace meshd::forward::detail {

AeadResult makeSodiumAead(Cipher cipher, const std::uint8_t *key);
AeadResult makeOpenSslAead(Cipher cipher, const std::uint8_t *key);
// sodium_init(), once; false when libsodium cannot be used.
bool sodiumReady();

} // namespace meshd::forward::detail
