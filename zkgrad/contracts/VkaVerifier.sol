// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {SSTORE2} from "solady/src/utils/SSTORE2.sol";
import {IVerifier} from "./IVerifier.sol";

/// @notice The part of ezkl's reusable verifier (`Halo2VerifierReusable`) that the adapter uses.
/// @dev ezkl's `verifyProof` returns raw words (1, vka digest, rescaled instances), not ABI-encoded
/// values, and reverts on a bad proof; the adapter reads the first word only.
interface IHalo2VerifierReusable {
    /// @notice Register a VKA so that proofs may be checked against it.
    /// @param vka the verifying-key artifact's words
    /// @return digest its key (keccak256 of the words)
    function registerVka(bytes32[] calldata vka) external returns (bytes32 digest);
    /// @notice Check `proof` against `instances` with the registered `vka`; reverts on a bad proof.
    /// @param proof the proof bytes
    /// @param instances the public instances
    /// @param vka the verifying-key artifact's words
    function verifyProof(bytes calldata proof, uint256[] calldata instances, bytes32[] calldata vka) external;
}

/// @title VkaVerifier
/// @notice One circuit's verifier: ezkl's shared reusable verifier plus this circuit's verifying-key
/// artifact (VKA), behind the plain `verifyProof(bytes,uint256[])` that the registry calls.
/// @dev The constructor registers the VKA with the reusable verifier (ezkl refuses unregistered
/// ones) and stores it as the code of data contracts (solady's SSTORE2, one per 767 words), which
/// is far cheaper to read back than storage. One reusable verifier serves any number of adapters.
contract VkaVerifier is IVerifier {
    /// @notice The VKA words one data contract holds (its code is a STOP byte, then the words).
    uint256 public constant CHUNK_WORDS = 767;

    IHalo2VerifierReusable public immutable verifier;
    /// @notice keccak256 of the VKA words: the reusable verifier's key for it.
    bytes32 public immutable vkaDigest;
    uint256 public immutable vkaWords;
    address[] private _chunks;

    error EmptyVka();
    error DigestMismatch(bytes32 expected, bytes32 returned);
    /// @notice The VKA read back from storage is not the one this adapter's code names (vkaDigest).
    error VkaMismatch(bytes32 expected, bytes32 stored);

    constructor(IHalo2VerifierReusable verifier_, bytes32[] memory words) {
        if (words.length == 0) revert EmptyVka();
        bytes32 digest = keccak256(abi.encodePacked(words));
        bytes32 registered = verifier_.registerVka(words);
        if (registered != digest) revert DigestMismatch(digest, registered);
        verifier = verifier_;
        vkaDigest = digest;
        vkaWords = words.length;
        for (uint256 start = 0; start < words.length; start += CHUNK_WORDS) {
            uint256 end = start + CHUNK_WORDS < words.length ? start + CHUNK_WORDS : words.length;
            bytes memory chunk = new bytes((end - start) * 32);
            for (uint256 i = 0; i < chunk.length; i += 32) {
                bytes32 word = words[start + i / 32];
                assembly ("memory-safe") {
                    mstore(add(add(chunk, 0x20), i), word)
                }
            }
            _chunks.push(SSTORE2.write(chunk));
        }
    }

    /// @notice Check `proof` against `instances` with this circuit's VKA; reverts on a bad proof,
    /// with the reusable verifier's own revert data.
    /// @dev The VKA is read from storage, which creation code other than this constructor could
    /// have filled; it is used only if it hashes to vkaDigest, which is part of the runtime code.
    /// So this adapter's runtime code alone decides which circuit it checks.
    /// @param proof the proof bytes
    /// @param instances the public instances
    /// @return true (a refused proof reverts)
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external view override returns (bool) {
        bytes32[] memory key = vka();
        bytes32 stored = keccak256(abi.encodePacked(key));
        if (stored != vkaDigest) revert VkaMismatch(vkaDigest, stored);
        bytes memory data = abi.encodeCall(IHalo2VerifierReusable.verifyProof, (proof, instances, key));
        (bool ok, bytes memory ret) = address(verifier).staticcall(data);
        if (!ok) {
            assembly {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        uint256 first;
        if (ret.length >= 32) {
            assembly {
                first := mload(add(ret, 0x20))
            }
        }
        return first == 1;
    }

    /// @notice The VKA words, read back from the data contracts.
    /// @return words the VKA, in order
    function vka() public view returns (bytes32[] memory words) {
        bytes memory raw;
        uint256 n = _chunks.length;
        for (uint256 i = 0; i < n; ++i) {
            raw = bytes.concat(raw, SSTORE2.read(_chunks[i]));
        }
        assembly ("memory-safe") {
            words := raw
            mstore(words, shr(5, mload(raw))) // the same memory as bytes32[]: 32-byte words
        }
    }
}
