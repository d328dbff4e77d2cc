// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ZkgradRegistry} from "../../zkgrad/contracts/ZkgradRegistry.sol";

/// @notice Test only. A prover contract that, when paid, tries to collect again by re-entering
/// the registry (submitUpdate with a second valid update and its batch path, or withdraw). With
/// `propagate` its receive() reverts when the re-entry fails, so the push payment fails and the
/// registry must fall back to crediting it.
contract ReentrantProver {
    ZkgradRegistry public immutable registry;
    uint256 public immutable modelId;
    bool public propagate;
    bool public armed;
    bool public reentered; // a re-entrant call succeeded
    bytes public lastError; // revert data of the failed re-entry
    uint256 public receipts; // times receive() ran
    bytes private _nextProof;
    uint256[] private _nextInstances;
    bytes32[] private _nextPath;

    constructor(ZkgradRegistry registry_, uint256 modelId_) {
        registry = registry_;
        modelId = modelId_;
    }

    /// @notice On the next payment, re-enter with this update (empty instances: re-enter withdraw).
    function arm(bytes calldata proof, uint256[] calldata instances, bytes32[] calldata path, bool propagate_)
        external
    {
        _nextProof = proof;
        _nextInstances = instances;
        _nextPath = path;
        propagate = propagate_;
        armed = true;
    }

    function submit(bytes calldata proof, uint256[] calldata instances, bytes32[] calldata path) external {
        registry.submitUpdate(modelId, proof, instances, path, 0);
    }

    function withdrawTo(address payable to) external {
        registry.withdraw(to);
    }

    function withdrawSelf() external {
        registry.withdraw(payable(address(this)));
    }

    receive() external payable {
        receipts += 1;
        if (!armed) return;
        armed = false;
        if (_nextInstances.length == 0) {
            try registry.withdraw(payable(address(this))) {
                reentered = true;
            } catch (bytes memory err) {
                lastError = err;
                if (propagate) revert("re-entry refused");
            }
            return;
        }
        try registry.submitUpdate(modelId, _nextProof, _nextInstances, _nextPath, 0) {
            reentered = true;
        } catch (bytes memory err) {
            lastError = err;
            if (propagate) revert("re-entry refused");
        }
    }
}
