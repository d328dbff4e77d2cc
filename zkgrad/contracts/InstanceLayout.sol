// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title InstanceLayout
/// @notice Where each committed tensor sits in a proof's public instances, and how a run of them is
/// committed: zkgrad/layout.py is the one definition, this library repeats its offsets
/// (tests/test_layout.py fails if they drift).
/// @dev Every committed tensor is a run of uint256 words below the BN254 scalar field modulus.
/// A training step's words are [before (S) | batch (B) | claim (1) | after (S) | loss (1)], an
/// inference's [weights (W) | input (X) | outputs (K)], an evaluation's [weights (W) | correct (1)].
/// A commitment is keccak256(abi.encodePacked(words)).
library InstanceLayout {
    /// @notice The BN254 scalar field modulus; every public instance must be below it.
    uint256 internal constant FIELD_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @notice The proof has `got` public instances where its layout needs `expected`.
    error MalformedInstances(uint256 expected, uint256 got);
    /// @notice Instance `index` is `value`, not below the field modulus.
    error InstanceOutOfField(uint256 index, uint256 value);

    /// @notice Start offsets of a training step's public instances, and their count.
    /// @param stateWords the state's words (parameters, then momentum velocities)
    /// @param batchWords the batch's words (inputs, then targets)
    function step(uint256 stateWords, uint256 batchWords)
        internal
        pure
        returns (uint256 before, uint256 batch, uint256 claim, uint256 after_, uint256 loss, uint256 length)
    {
        claim = stateWords + batchWords;
        return (0, stateWords, claim, claim + 1, claim + 1 + stateWords, claim + 2 + stateWords);
    }

    /// @notice Start offsets of an inference's public instances, and their count.
    function answer(uint256 weightsWords, uint256 inputWords, uint256 nOutputs)
        internal
        pure
        returns (uint256 weights, uint256 input, uint256 outputs, uint256 length)
    {
        return (0, weightsWords, weightsWords + inputWords, weightsWords + inputWords + nOutputs);
    }

    /// @notice Offsets of an evaluation's public instances: the weights, then the count word.
    function evaluation(uint256 weightsWords) internal pure returns (uint256 weights, uint256 correct, uint256 length) {
        return (0, weightsWords, weightsWords + 1);
    }

    /// @notice The claim word of a step that creates `newVersion` of `modelId`, submitted by
    /// `submitter` to the calling registry on this chain (zkgrad.layout.claim_word).
    function claimWord(uint256 modelId, uint256 newVersion, address submitter) internal view returns (uint256) {
        return uint256(keccak256(abi.encode(block.chainid, address(this), modelId, newVersion, submitter)))
            % FIELD_MODULUS;
    }

    /// @notice Revert unless there are exactly `length` instances, each below the field modulus.
    function check(uint256[] calldata instances, uint256 length) internal pure {
        if (instances.length != length) revert MalformedInstances(length, instances.length);
        for (uint256 i; i < length; ++i) {
            if (instances[i] >= FIELD_MODULUS) revert InstanceOutOfField(i, instances[i]);
        }
    }

    /// @notice keccak256 of words[start .. start + n] packed; the caller has checked the bounds.
    function commit(uint256[] calldata words, uint256 start, uint256 n) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, add(words.offset, shl(5, start)), shl(5, n))
            h := keccak256(ptr, shl(5, n))
        }
    }
}
