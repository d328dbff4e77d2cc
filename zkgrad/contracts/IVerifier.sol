// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @notice The interface of an ezkl-generated Halo2 (KZG, BN254) verifier contract.
/// @dev A verifier may return false or revert on a bad proof; the registry treats both alike. The
/// registry calls it with STATICCALL: a verifier that writes state (or logs) always fails there.
interface IVerifier {
    /// @notice Whether `proof` is valid for the public `instances`.
    /// @param proof the proof bytes
    /// @param instances the public instances, each below the BN254 scalar field modulus
    /// @return true when valid (a bad proof may also revert)
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external view returns (bool);
}
