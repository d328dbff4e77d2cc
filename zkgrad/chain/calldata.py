"""Find an accepted update's proof and public instances in the input of the transaction that
carried it, with no call tracer: whoever made the call, the instances are found by their
commitments, which the UpdateAccepted event names.

The registry's ``submitUpdate(modelId, bytes proof, uint256[] instances, bytes32[] batchPath,
uint256 minReward)`` encodes the proof's tail right before the instances' tail (``[len][proof, padded] [len][words]``). The same holds
wherever that call, or any call taking ``(bytes proof, uint256[] instances)``, is ABI-encoded
inside the input: a direct call, a multisig's or relayer's embedded call, a prover contract's
own ``submit(proof, instances)``. Each run of ``length`` words after a length word is a
candidate; one whose commitments, claim and loss word equal the event's (the claim from the
event's model, version and prover: ``zkgrad.layout.claim_word``) is the update's instances (a
keccak preimage, so no false match), and the bytes encoded just before them are its proof, for
the caller to verify. A contract that takes the proof from anywhere else (its storage, a
compressed encoding) leaves nothing to find: ``find_update`` returns None.
"""

from __future__ import annotations

from ..layout import StepLayout

WORD = 32


def find_update(
    data: bytes, layout: StepLayout, *, before: bytes, batch: bytes, after: bytes, claim: int, loss: int
) -> tuple[bytes, tuple[int, ...]] | None:
    """(proof, instances) of the update with these commitments, if ``data`` encodes them."""
    n = layout.length
    marker = n.to_bytes(WORD, "big")
    at = data.find(marker)
    while at != -1:
        start, end = at + WORD, at + WORD + n * WORD
        if end <= len(data):
            words = [int.from_bytes(data[i : i + WORD], "big") for i in range(start, end, WORD)]
            found = (layout.before_commitment(words), layout.batch_commitment(words),
                     layout.after_commitment(words), words[layout.claim], words[layout.loss])
            proof = _bytes_ending_at(data, at) if found == (before, batch, after, claim, loss) else None
            if proof is not None:
                return proof, tuple(words)
        at = data.find(marker, at + 1)
    return None


def _bytes_ending_at(data: bytes, end: int) -> bytes | None:
    """The ABI-encoded ``bytes`` (length word, payload zero-padded to whole words) ending at ``end``."""
    for padded in range(WORD, end - WORD + 1, WORD):
        at = end - padded - WORD
        length = int.from_bytes(data[at : at + WORD], "big")
        if padded - WORD < length <= padded and not any(data[at + WORD + length : end]):
            return data[at + WORD : at + WORD + length]
    return None
