// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ZkgradRegistry} from "../../zkgrad/contracts/ZkgradRegistry.sol";

/// forge runs with the pinned solc-js and OpenZeppelin from the tools folder. Uses only the
/// registry's modelCount and FIELD_MODULUS, so it outlives changes to the rest of its interface.
/// No forge-std: a failed require fails the test.
contract ToolchainTest {
    ZkgradRegistry registry;

    function setUp() public {
        registry = new ZkgradRegistry();
    }

    function test_fresh_registry_has_no_models() public view {
        require(registry.modelCount() == 0, "modelCount of a fresh registry");
    }

    function test_field_modulus_is_bn254_scalar_field() public view {
        require(
            registry.FIELD_MODULUS()
                == 21888242871839275222246405745257275088548364400416034343698204186575808495617,
            "FIELD_MODULUS"
        );
    }

    function test_openzeppelin_merkle_proof() public pure {
        bytes32 a = keccak256("a");
        bytes32 b = keccak256("b");
        bytes32 root = a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = b;
        require(MerkleProof.verify(proof, root, a), "a pair's root");
        require(!MerkleProof.verify(proof, root, keccak256("c")), "a leaf outside the tree");
    }
}
