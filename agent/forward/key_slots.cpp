// SPDX-License-Identifier: GPL-2.0-or-later
#include "key_slots.h"

#include <cerrno>

namespace meshd::forward {

int WorkerAeads::init(Cipher cipher, Library library, const std::uint8_t *key, unsigned workers)
{
    if (workers == 0)
        return -EINVAL;
    aeads_.clear();
    aeads_.reserve(workers);
    for (unsigned i = 0; i < workers; ++i) {
        AeadResult made = makeAead(cipher, library, key);
        if (!made.aead) {
            aeads_.clear();
            return made.error;
        }
        aeads_.push_back(std::move(made.aead));
    }
    return 0;
}

std::unique_ptr<RxKey> RxKey::create(Cipher cipher, Library library, const std::uint8_t *key,
                                     unsigned workers, int *error)
{
    std::unique_ptr<RxKey> made(new RxKey());
    int rc = made->aeads_.init(cipher, library, key, workers);
    if (error)
        *error = rc;
    return rc < 0 ? nullptr : std::move(made);
}

std::unique_ptr<TxKey> TxKey::create(Cipher cipher, Library library, const std::uint8_t *key,
                                     unsigned workers, int *error)
{
    std::unique_ptr<TxKey> made(new TxKey());
    int rc = made->aeads_.init(cipher, library, key, workers);
    if (error)
        *error = rc;
    return rc < 0 ? nullptr : std::move(made);
}

KeySlots::~KeySlots()
{
    delete rx_[0].load();
    delete rx_[1].load();
    delete tx_.load();
}

int KeySlots::rekey(std::uint64_t epoch, std::unique_ptr<RxKey> rx, std::unique_ptr<TxKey> tx,
                    std::uint64_t previousExpiresAt, Retired &retired)
{
    unsigned phase = unsigned(epoch & 1);
    TxKey *current = tx_.load(std::memory_order_relaxed);
    if (!rx || !tx || (current && current->phase_ == phase))
        return -EINVAL;
    // The previous phase's key first gets its deadline, so that no worker can
    // see the new keys while the old one still looks unlimited.
    if (RxKey *previous = rx_[phase ^ 1].load(std::memory_order_relaxed))
        previous->expiresAt_.store(previousExpiresAt, std::memory_order_release);
    tx->phase_ = std::uint8_t(phase);
    retired.rx[phase].reset(rx_[phase].exchange(rx.release(), std::memory_order_acq_rel));
    retired.tx.reset(tx_.exchange(tx.release(), std::memory_order_acq_rel));
    return 0;
}

int KeySlots::installRx(std::uint64_t epoch, std::unique_ptr<RxKey> rx,
                        std::uint64_t previousExpiresAt, Retired &retired)
{
    if (!rx)
        return -EINVAL;
    unsigned phase = unsigned(epoch & 1);
    if (RxKey *previous = rx_[phase ^ 1].load(std::memory_order_relaxed))
        previous->expiresAt_.store(previousExpiresAt, std::memory_order_release);
    retired.rx[phase].reset(rx_[phase].exchange(rx.release(), std::memory_order_acq_rel));
    return 0;
}

int KeySlots::installTx(std::uint64_t epoch, std::unique_ptr<TxKey> tx, Retired &retired)
{
    unsigned phase = unsigned(epoch & 1);
    TxKey *current = tx_.load(std::memory_order_relaxed);
    if (!tx || (current && current->phase_ == phase))
        return -EINVAL;
    tx->phase_ = std::uint8_t(phase);
    retired.tx.reset(tx_.exchange(tx.release(), std::memory_order_acq_rel));
    return 0;
}

void KeySlots::clear(Retired &retired)
{
    retired.tx.reset(tx_.exchange(nullptr, std::memory_order_acq_rel));
    for (unsigned phase = 0; phase < 2; ++phase)
        retired.rx[phase].reset(rx_[phase].exchange(nullptr, std::memory_order_acq_rel));
}

} // namespace meshd::forward
