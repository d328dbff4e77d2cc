// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @notice The interface of an ezkl-generated Halo2 (KZG, BN254) verifier contract.
/// @dev A verifier may return false or revert on a bad proof; the registry treats both alike.
interface IVerifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}
