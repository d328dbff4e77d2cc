// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IVerifier} from "../../zkgrad/contracts/IVerifier.sol";

/// @notice Test only. Accepts exactly the one proof registered for a list of instances:
/// keccak256(proof) must equal what accept() stored under keccak256(abi.encode(instances)).
/// Stands in for an ezkl verifier so the registry's own logic can be tested without proofs.
/// `work` rounds of hashing per call make it cost about what a real verifier costs (~0.5 M
/// gas), so that gas measurements are not hidden under EIP-7623's calldata floor.
contract AcceptingVerifier is IVerifier {
    mapping(bytes32 instancesHash => bytes32 proofHash) public accepted;
    uint256 public immutable work;

    constructor(uint256 work_) {
        work = work_;
    }

    function accept(bytes calldata proof, uint256[] calldata instances) external {
        accepted[keccak256(abi.encode(instances))] = keccak256(proof);
    }

    function verifyProof(bytes calldata proof, uint256[] calldata instances) external view returns (bool) {
        bytes32 want = accepted[keccak256(abi.encode(instances))];
        bytes32 h = want;
        for (uint256 i; i < work; ++i) {
            h = keccak256(abi.encode(h, i));
        }
        return want != bytes32(0) && want == keccak256(proof) && h != bytes32(uint256(1));
    }
}

/// @notice Test only. Reverts on every proof, as ezkl verifiers do on some bad proofs.
contract RevertingVerifier is IVerifier {
    error BadProof();

    function verifyProof(bytes calldata, uint256[] calldata) external pure returns (bool) {
        revert BadProof();
    }
}

/// @notice Test only. Returns a word that is neither true nor false.
contract GarbageVerifier {
    function verifyProof(bytes calldata, uint256[] calldata) external pure returns (uint256) {
        return 2;
    }
}
