// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {IVerifier} from "./IVerifier.sol";

/// @notice The part of ezkl's reusable verifier (`Halo2VerifierReusable`) that the adapter uses.
/// @dev ezkl's `verifyProof` returns raw words (1, vka digest, rescaled instances), not ABI-encoded
/// values, and reverts on a bad proof; the adapter reads the first word only.
interface IHalo2VerifierReusable {
    function registerVka(bytes32[] calldata vka) external returns (bytes32 digest);
    function verifyProof(bytes calldata proof, uint256[] calldata instances, bytes32[] calldata vka) external;
}

/// @title VkaVerifier
/// @notice One circuit's verifier: ezkl's shared reusable verifier plus this circuit's verifying-key
/// artifact (VKA), behind the plain `verifyProof(bytes,uint256[])` that the registry calls.
/// @dev The constructor registers the VKA with the reusable verifier (ezkl refuses unregistered
/// ones) and stores it as the code of data contracts (one per 767 words), which is far cheaper to
/// read back than storage. One reusable verifier serves any number of adapters.
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
    error StoreFailed();

    constructor(IHalo2VerifierReusable verifier_, bytes32[] memory vka) {
        if (vka.length == 0) revert EmptyVka();
        bytes32 digest = keccak256(abi.encodePacked(vka));
        bytes32 registered = verifier_.registerVka(vka);
        if (registered != digest) revert DigestMismatch(digest, registered);
        verifier = verifier_;
        vkaDigest = digest;
        vkaWords = vka.length;
        for (uint256 start = 0; start < vka.length; start += CHUNK_WORDS) {
            uint256 end = start + CHUNK_WORDS < vka.length ? start + CHUNK_WORDS : vka.length;
            _chunks.push(_storeWords(vka, start, end));
        }
    }

    /// @notice Check `proof` against `instances` with this circuit's VKA; reverts on a bad proof,
    /// with the reusable verifier's own revert data.
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external view override returns (bool) {
        bytes memory data = abi.encodeCall(IHalo2VerifierReusable.verifyProof, (proof, instances, vka()));
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
    function vka() public view returns (bytes32[] memory words) {
        words = new bytes32[](vkaWords);
        uint256 dst;
        assembly {
            dst := add(words, 0x20)
        }
        uint256 n = _chunks.length;
        for (uint256 i = 0; i < n; ++i) {
            address chunk = _chunks[i];
            assembly {
                let size := sub(extcodesize(chunk), 1)
                extcodecopy(chunk, dst, 1, size)
                dst := add(dst, size)
            }
        }
    }

    /// @dev Deploy a contract whose code is 0x00 followed by vka[start:end] (SSTORE2's layout).
    function _storeWords(bytes32[] memory vka_, uint256 start, uint256 end) private returns (address chunk) {
        uint256 size = (end - start) * 32 + 1; // code size, with the leading STOP
        bytes memory init = new bytes(14 + size);
        assembly {
            let p := add(init, 0x20)
            // PUSH4 size, DUP1, PUSH1 0x0e, PUSH1 0, CODECOPY, PUSH1 0, RETURN (14 bytes), STOP
            mstore(p, or(shl(248, 0x63), or(shl(216, size), shl(136, 0x80600e6000396000f300))))
            let dst := add(p, 15)
            for { let i := start } lt(i, end) { i := add(i, 1) } {
                mstore(dst, mload(add(vka_, mul(add(i, 1), 0x20))))
                dst := add(dst, 0x20)
            }
            chunk := create(0, p, mload(init))
        }
        if (chunk == address(0)) revert StoreFailed();
    }
}
